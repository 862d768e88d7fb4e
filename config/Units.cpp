// Units: one small scanner for "<number>[ ][unit]" shared by sizes and durations; overflow
// saturates rather than wraps so an absurd value fails its bound check, never passes it.
#include "config/Units.hpp"

#include <array>
#include <limits>

namespace megafuse::config {
namespace {

struct UnitFactor {
    std::string_view suffix;
    uint64_t factor;
};

constexpr uint64_t kKi = 1024;
constexpr uint64_t kKb = 1000;

// Binary first: formatSize prefers them when both spellings are equally short.
constexpr std::array<UnitFactor, 13> kSizeUnits = {{
    {"B", 1},
    {"K", kKi},
    {"KiB", kKi},
    {"M", kKi* kKi},
    {"MiB", kKi* kKi},
    {"G", kKi* kKi* kKi},
    {"GiB", kKi* kKi* kKi},
    {"T", kKi* kKi* kKi* kKi},
    {"TiB", kKi* kKi* kKi* kKi},
    {"KB", kKb},
    {"MB", kKb* kKb},
    {"GB", kKb* kKb* kKb},
    {"TB", kKb* kKb* kKb* kKb},
}};

constexpr uint64_t kMsPerSecond = 1000;

// Largest last: formatDuration walks it backwards.
constexpr std::array<UnitFactor, 5> kDurationUnits = {{
    {"ms", 1},
    {"s", kMsPerSecond},
    {"m", kMsPerSecond * 60},
    {"h", kMsPerSecond * 60 * 60},
    {"d", kMsPerSecond * 60 * 60 * 24},
}};

constexpr size_t kMaxDecimals = 3;
constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

struct Quantity {
    uint64_t whole = 0;  // saturated at kSaturated
    uint64_t fraction = 0;
    size_t decimals = 0;
    std::string_view unit;  // empty when none was written
};

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::optional<Quantity> scan(std::string_view text) {
    Quantity q;
    size_t i = 0;
    if (i == text.size() || !isDigit(text[i])) {
        return std::nullopt;
    }
    for (; i < text.size() && isDigit(text[i]); ++i) {
        auto digit = static_cast<uint64_t>(text[i] - '0');
        if (q.whole != kSaturated && (__builtin_mul_overflow(q.whole, 10U, &q.whole) ||
                                      __builtin_add_overflow(q.whole, digit, &q.whole))) {
            q.whole = kSaturated;
        }
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        for (; i < text.size() && isDigit(text[i]); ++i) {
            if (++q.decimals > kMaxDecimals) {
                return std::nullopt;
            }
            q.fraction = q.fraction * 10 + static_cast<uint64_t>(text[i] - '0');
        }
        if (q.decimals == 0) {
            return std::nullopt;  // "1." is a typo more often than a number
        }
    }
    size_t spaces = 0;
    while (i < text.size() && text[i] == ' ') {
        ++i;
        ++spaces;
    }
    q.unit = text.substr(i);
    if (spaces > 0 && q.unit.empty()) {
        return std::nullopt;  // spaces only separate a number from its unit
    }
    return q;
}

// whole·factor + fraction·factor/10^decimals, saturating.
uint64_t apply(const Quantity& q, uint64_t factor) {
    uint64_t result = 0;
    if (q.whole == kSaturated || __builtin_mul_overflow(q.whole, factor, &result)) {
        return kSaturated;
    }
    uint64_t scale = 1;
    for (size_t d = 0; d < q.decimals; ++d) {
        scale *= 10;
    }
    // fraction < 1000 and factor ≤ 2^40: the product fits in 64 bits.
    uint64_t fractional = q.fraction * factor / scale;
    if (__builtin_add_overflow(result, fractional, &result)) {
        return kSaturated;
    }
    return result;
}

template <size_t N>
std::optional<uint64_t> factorOf(std::string_view unit, const std::array<UnitFactor, N>& units) {
    for (const auto& u : units) {
        if (u.suffix == unit) {
            return u.factor;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parseSize(std::string_view text) {
    auto q = scan(text);
    if (!q) {
        return std::nullopt;
    }
    uint64_t factor = 1;
    if (!q->unit.empty()) {
        auto f = factorOf(q->unit, kSizeUnits);
        if (!f) {
            return std::nullopt;
        }
        factor = *f;
    }
    if (factor == 1 && q->decimals > 0) {
        return std::nullopt;  // "1.5" bytes: the unit was probably forgotten
    }
    return apply(*q, factor);
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
    auto q = scan(text);
    if (!q) {
        return std::nullopt;
    }
    uint64_t factor = kMsPerSecond;  // bare numbers are seconds
    if (!q->unit.empty()) {
        auto f = factorOf(q->unit, kDurationUnits);
        if (!f) {
            return std::nullopt;
        }
        factor = *f;
    }
    uint64_t ms = apply(*q, factor);
    constexpr auto kMaxMs = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    return std::chrono::milliseconds(static_cast<int64_t>(ms > kMaxMs ? kMaxMs : ms));
}

std::string formatSize(uint64_t bytes) {
    std::string best = std::to_string(bytes) + "B";
    if (bytes == 0) {
        return best;
    }
    for (const auto& u : kSizeUnits) {
        // Bare K/M/G/T are aliases of KiB..TiB; print the unambiguous spelling.
        if (u.suffix.size() == 1 || bytes % u.factor != 0) {
            continue;
        }
        std::string candidate = std::to_string(bytes / u.factor) + std::string(u.suffix);
        if (candidate.size() < best.size()) {
            best = std::move(candidate);
        }
    }
    return best;
}

std::string formatDuration(std::chrono::milliseconds duration) {
    auto ms = duration.count();
    if (ms == 0) {
        return "0s";
    }
    const UnitFactor* best = &kDurationUnits.front();  // ms divides everything
    for (const auto& unit : kDurationUnits) {
        if (ms % static_cast<int64_t>(unit.factor) == 0) {
            best = &unit;
        }
    }
    return std::to_string(ms / static_cast<int64_t>(best->factor)) + std::string(best->suffix);
}

}  // namespace megafuse::config
