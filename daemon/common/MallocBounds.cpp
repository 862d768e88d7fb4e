// MallocBounds: mallopt at startup; see the header for why.
#include "common/MallocBounds.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

namespace megafuse::common {

namespace {

bool environmentTunesMalloc() {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    return (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) ||
           std::getenv("MALLOC_ARENA_MAX") != nullptr ||
           std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr;
}

}  // namespace

void applyMallocBounds() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // The sanitizers bring their own allocator; their mallopt does nothing and says it failed.
    return;
#endif
    if (environmentTunesMalloc()) {
        return;
    }
    // mallopt returns 0 on failure; the daemon then runs with glibc's defaults, only bigger.
    // It is MT-unsafe: called once, from main(), before any thread exists (see the header).
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet
    const bool arenasSet = ::mallopt(M_ARENA_MAX, kMallocArenaMax) != 0;
    const int threshold = static_cast<int>(kMallocMmapThresholdBytes);
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet
    const bool thresholdSet = ::mallopt(M_MMAP_THRESHOLD, threshold) != 0;
    if (!arenasSet || !thresholdSet) {
        spdlog::warn("mallopt failed: malloc keeps its default arenas and mmap threshold");
    }
}

}  // namespace megafuse::common
