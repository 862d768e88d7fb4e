// Units: the edges of size and duration parsing (which units are 1000 and which 1024, decimals,
// overflow) and that formatting reads back to the same value.
#include <gtest/gtest.h>

#include <limits>

#include "config/Units.hpp"

namespace megafuse::config {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST(ParseSize, BinaryAndDecimalUnits) {
    EXPECT_EQ(parseSize("0"), 0U);
    EXPECT_EQ(parseSize("4096"), 4096U);
    EXPECT_EQ(parseSize("4096B"), 4096U);
    EXPECT_EQ(parseSize("1K"), 1024U);
    EXPECT_EQ(parseSize("1KiB"), 1024U);
    EXPECT_EQ(parseSize("1KB"), 1000U);
    EXPECT_EQ(parseSize("64M"), 64ULL << 20U);
    EXPECT_EQ(parseSize("64MiB"), 64ULL << 20U);
    EXPECT_EQ(parseSize("64MB"), 64'000'000U);
    EXPECT_EQ(parseSize("10G"), 10ULL << 30U);
    EXPECT_EQ(parseSize("10GiB"), 10ULL << 30U);
    EXPECT_EQ(parseSize("10GB"), 10'000'000'000U);
    EXPECT_EQ(parseSize("16T"), 16ULL << 40U);
    EXPECT_EQ(parseSize("16TiB"), 16ULL << 40U);
    EXPECT_EQ(parseSize("2TB"), 2'000'000'000'000U);
}

TEST(ParseSize, SpacesAndDecimals) {
    EXPECT_EQ(parseSize("10 GiB"), 10ULL << 30U);
    EXPECT_EQ(parseSize("1.5GiB"), 3ULL << 29U);
    EXPECT_EQ(parseSize("0.5K"), 512U);
    EXPECT_EQ(parseSize("1.001KB"), 1001U);
    EXPECT_EQ(parseSize("1.999KiB"), 2046U);  // 2046.976 rounded down
    EXPECT_EQ(parseSize("0.001KiB"), 1U);
}

TEST(ParseSize, Rejects) {
    for (const char* text : {"",        " ",     "GiB",  "-1",   "+1",      "1.",     ".5K",
                             "1.2345K", "1.5",   "1.5B", "10gb", "10 gigs", "10GiBs", "1e9",
                             "0x10",    "1_000", "10 ",  " 10",  "1,5G",    "10iB",   "1KIB"}) {
        EXPECT_EQ(parseSize(text), std::nullopt) << '"' << text << '"';
    }
}

TEST(ParseSize, OverflowSaturates) {
    EXPECT_EQ(parseSize("18446744073709551615"), kMax);
    EXPECT_EQ(parseSize("18446744073709551616"), kMax);
    EXPECT_EQ(parseSize("99999999999999999999999TiB"), kMax);
    EXPECT_EQ(parseSize("16777216TiB"), kMax);  // exactly 2^64
    EXPECT_EQ(parseSize("16777215TiB"), 16777215ULL << 40U);
}

TEST(ParseDuration, Units) {
    EXPECT_EQ(parseDuration("0"), milliseconds(0));
    EXPECT_EQ(parseDuration("30"), milliseconds(30'000));
    EXPECT_EQ(parseDuration("30s"), milliseconds(30'000));
    EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
    EXPECT_EQ(parseDuration("5m"), milliseconds(300'000));
    EXPECT_EQ(parseDuration("2h"), milliseconds(7'200'000));
    EXPECT_EQ(parseDuration("1d"), milliseconds(86'400'000));
    EXPECT_EQ(parseDuration("3600s"), std::chrono::hours(1));
    EXPECT_EQ(parseDuration("10 s"), milliseconds(10'000));
}

TEST(ParseDuration, Decimals) {
    EXPECT_EQ(parseDuration("0.5"), milliseconds(500));
    EXPECT_EQ(parseDuration("1.5h"), milliseconds(5'400'000));
    EXPECT_EQ(parseDuration("0.25s"), milliseconds(250));
    EXPECT_EQ(parseDuration("0.001s"), milliseconds(1));
    EXPECT_EQ(parseDuration("1.5ms"), milliseconds(1));  // whole milliseconds, rounded down
}

TEST(ParseDuration, Rejects) {
    for (const char* text : {"", "s", "-1s", "1.", "1.2345s", "5min", "5M", "1h30m", "1 hour",
                             "forever", "1w", "1y", "PT5S", " 5s"}) {
        EXPECT_EQ(parseDuration(text), std::nullopt) << '"' << text << '"';
    }
}

TEST(ParseDuration, OverflowSaturates) {
    auto max = milliseconds(std::numeric_limits<int64_t>::max());
    EXPECT_EQ(parseDuration("99999999999999999999d"), max);
    EXPECT_EQ(parseDuration("9223372036854775807ms"), max);
    EXPECT_EQ(parseDuration("9223372036854775808ms"), max);
}

TEST(FormatSize, ShortestExactSpelling) {
    EXPECT_EQ(formatSize(0), "0B");
    EXPECT_EQ(formatSize(1), "1B");
    EXPECT_EQ(formatSize(1500), "1500B");
    EXPECT_EQ(formatSize(1024), "1KiB");
    EXPECT_EQ(formatSize(1000), "1KB");
    EXPECT_EQ(formatSize(64ULL << 20U), "64MiB");
    EXPECT_EQ(formatSize(16ULL << 40U), "16TiB");
    EXPECT_EQ(formatSize(10'000'000'000U), "10GB");
    EXPECT_EQ(formatSize(3ULL << 29U), "1536MiB");
}

TEST(FormatSize, ReadsBack) {
    for (uint64_t bytes :
         std::initializer_list<uint64_t>{0, 1, 999, 1000, 1023, 1024, 1536000, 64ULL << 20U,
                                         10'000'000'000, 16ULL << 40U, 123456789, kMax}) {
        EXPECT_EQ(parseSize(formatSize(bytes)), bytes) << formatSize(bytes);
    }
}

TEST(FormatDuration, LargestExactUnit) {
    EXPECT_EQ(formatDuration(milliseconds(0)), "0s");
    EXPECT_EQ(formatDuration(milliseconds(1)), "1ms");
    EXPECT_EQ(formatDuration(milliseconds(1500)), "1500ms");
    EXPECT_EQ(formatDuration(milliseconds(30'000)), "30s");
    EXPECT_EQ(formatDuration(milliseconds(90'000)), "90s");
    EXPECT_EQ(formatDuration(std::chrono::hours(1)), "1h");
    EXPECT_EQ(formatDuration(std::chrono::hours(24)), "1d");
    EXPECT_EQ(formatDuration(std::chrono::hours(36)), "36h");
}

TEST(FormatDuration, ReadsBack) {
    for (int64_t ms : std::initializer_list<int64_t>{0, 1, 999, 1000, 61'000, 3'600'000, 86'400'000,
                                                     90'061'001}) {
        EXPECT_EQ(parseDuration(formatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
    }
}

}  // namespace
}  // namespace megafuse::config
