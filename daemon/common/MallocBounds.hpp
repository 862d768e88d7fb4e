// MallocBounds: glibc malloc settings that keep the daemon's resident memory near what it uses.
// Process-wide, so set once at startup before any thread exists.
#pragma once

#include <cstddef>

namespace megafuse::common {

// glibc gives each thread that contends for the heap an arena of its own (up to 8 per core) and
// raises its mmap threshold after every large free, so blob-sized buffers land inside arenas.
// FUSE workers come and go and read blobs of every size: freed memory stays resident, spread
// over many arenas (the linux corpus read by 50 readers: 150 MiB of anonymous RSS for 60 MiB
// live). Fewer arenas and a fixed threshold give large buffers back to the kernel on free.
inline constexpr int kMallocArenaMax = 4;
inline constexpr size_t kMallocMmapThresholdBytes = 128U << 10U;  // glibc's initial value

// Applies the two bounds above, unless the environment sets malloc tunables itself
// (GLIBC_TUNABLES with glibc.malloc.*, MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_): an operator's
// explicit choice wins. Call from main() before starting threads.
void applyMallocBounds();

}  // namespace megafuse::common
