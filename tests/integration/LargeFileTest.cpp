// LargeFileTest: a file of more than 200 MB, fetched lazily from a git daemon, reads back byte
// for byte — sequentially and at random offsets — and never passes whole through the daemon's
// memory (its peak RSS stays under half the file's size). The bytes come from a PRNG, so nothing
// compresses them and making them costs well under a second.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "MountFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/RepoBuilder.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

// Not a multiple of any page or FUSE read size: the tail of the file is a short read.
constexpr uint64_t kLargeSize = (200ULL << 20U) + 4099;

// xorshift64*: fast, and the same stream every run.
void writePseudoRandomFile(const std::filesystem::path& path, uint64_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    std::vector<uint64_t> chunk(1U << 17U);  // 1 MiB
    uint64_t written = 0;
    while (written < size) {
        for (auto& word : chunk) {
            state ^= state >> 12U;
            state ^= state << 25U;
            state ^= state >> 27U;
            word = state * 0x2545F4914F6CDD1DULL;
        }
        const uint64_t bytes = std::min<uint64_t>(size - written, chunk.size() * sizeof(uint64_t));
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(bytes));
        written += bytes;
    }
    ASSERT_TRUE(out.flush()) << "cannot write " << path;
}

std::string preadExactly(int fd, uint64_t offset, size_t length) {
    std::string bytes(length, '\0');
    size_t got = 0;
    while (got < length) {
        ssize_t n = ::pread(fd, bytes.data() + got, length - got, static_cast<off_t>(offset + got));
        if (n <= 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    bytes.resize(got);
    return bytes;
}

// Peak resident memory (VmHWM) of a process, in bytes; 0 when it cannot be read.
uint64_t peakResidentBytes(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::stoull(line.substr(6)) * 1024;  // "VmHWM:   123456 kB"
        }
    }
    return 0;
}

class LargeFileTest : public MountFixture {};

TEST_F(LargeFileTest, FileOver200MegabytesReadsBackIdentical) {
    const auto source = dir_ / "large.bin";
    writePseudoRandomFile(source, kLargeSize);
    if (HasFatalFailure()) {
        return;
    }
    RepoBuilder large(dir_ / "large-origin");
    // Random bytes do not deflate: storing them uncompressed saves most of the set-up time.
    git(large.dir(), {"config", "core.compression", "0"});
    large.writeFileFrom("data/large.bin", source);
    large.writeFile("data/small.txt", "a small neighbour\n");
    large.commit("one large file");

    ServedSource served(SourceKind::GitDaemon, large.dir(), dir_ / "served");
    git(served.servedRepository(), {"config", "core.compression", "0"});
    auto req = request(served.source(), "main");
    req.fetchTimeoutSeconds = 90;
    req.logLevel = "info";  // a debug line per read would be megabytes
    auto daemon =
        std::make_unique<MegaFused>(req, dir_ / "mega-fused.log", std::chrono::seconds(110));

    const auto mounted = mountPoint() / "data/large.bin";
    struct stat st {};
    ASSERT_EQ(::lstat(mounted.c_str(), &st), 0) << errnoText(errno);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kLargeSize);

    auto differences = compareEntries(source, mounted);
    EXPECT_TRUE(differences.empty()) << joinDifferences(differences);

    // Random access: offsets that straddle 4 KiB and 128 KiB boundaries, and the very end.
    UniqueFd want(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd got(::open(mounted.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(want && got) << errnoText(errno);
    for (uint64_t offset : {kLargeSize - 1, kLargeSize - 5000, uint64_t{131071}, uint64_t{4095},
                            kLargeSize / 2 + 12345, uint64_t{0}}) {
        const size_t length = 70000;
        // A bool, not the strings: a failure must not print 70 kB of random bytes.
        const bool same =
            preadExactly(got.get(), offset, length) == preadExactly(want.get(), offset, length);
        EXPECT_TRUE(same) << "pread of " << length << " bytes at " << offset << " differs";
    }
    EXPECT_EQ(preadExactly(got.get(), kLargeSize, 10), "") << "read past the end";
    // The blob went into the content cache streamed, never whole through the daemon's memory.
    const uint64_t peak = peakResidentBytes(daemon->pid());
    EXPECT_GT(peak, 0U) << "no VmHWM for the daemon";
#ifndef __SANITIZE_ADDRESS__
    const uint64_t bound = kLargeSize / 2;
#else
    const uint64_t bound = kLargeSize;  // ASan's shadow memory and quarantine; whole-blob was 2x+
#endif
    EXPECT_LT(peak, bound) << "the daemon's peak RSS grew with the file";
    got.reset();
    EXPECT_EQ(daemon->stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
