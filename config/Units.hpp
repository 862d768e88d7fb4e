// Units: byte sizes ("10GiB") and durations ("30s") as people write them in config.yaml, and the
// same notation back for messages and status, so what the daemon prints can be pasted into YAML.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace megafuse::config {

// "<number>[ ][unit]". The number is decimal digits with at most three decimals (decimals need a
// unit other than B). Units: B; K, KiB, M, MiB, G, GiB, T, TiB are powers of 1024; KB, MB, GB,
// TB are powers of 1000. Case matters ("mb" is not a unit). No unit means bytes. Fractions of a
// byte are rounded down. A value too large for 64 bits saturates to UINT64_MAX, so the caller's
// bound check names the bound instead of calling a large number malformed. nullopt: not a size.
std::optional<uint64_t> parseSize(std::string_view text);

// "<number>[ ][unit]" with units ms, s, m (minutes), h, d; no unit means seconds. Up to three
// decimals ("1.5h", "0.25s"), rounded down to whole milliseconds. Saturates like parseSize.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

// The shortest exact spelling parseSize reads back: 65536 → "64KiB", 10^10 → "10GB", 1500 →
// "1500B".
std::string formatSize(uint64_t bytes);

// The largest unit that divides exactly: 86400000ms → "1d", 90000ms → "90s", 1500ms → "1500ms".
std::string formatDuration(std::chrono::milliseconds duration);

}  // namespace megafuse::config
