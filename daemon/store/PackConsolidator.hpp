// PackConsolidator: keeps the number of pack files in one partial clone bounded. Every fetch
// round leaves one pack and the clone runs no git maintenance of its own, so without this a
// daemon reading for weeks would hold thousands: each costs libgit2 an index map and per-pack
// structures, and every object lookup that misses (and every `git fetch`) scans them all.
//
// Threads: one thread owned by the consolidator counts the packs and runs `git repack`;
// fetching threads only note that a pack was added (packAdded) and never wait for the repack.
// Destruction starts no new repack and waits for a running one (bounded by its timeout).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "store/ObjectStore.hpp"

namespace megafuse::store {

class PackConsolidator {
public:
    struct Options {
        std::filesystem::path repository;            // the partial clone (bare)
        std::string sourceName;                      // for messages; credentials already redacted
        size_t maxPacks = kMaxPacksPerClone;         // 0 = never consolidate
        std::chrono::milliseconds timeout{600'000};  // one `git repack`, at most
    };
    // Called after a repack replaced the packs (the store reopens its libgit2 handles, so they
    // drop the deleted packs and see the new one).
    using OnRepacked = std::function<void()>;

    // Counts the clone's packs once at start (a clone an earlier run left with many packs is
    // consolidated then), in the background like every later count.
    PackConsolidator(Options options, OnRepacked onRepacked);
    ~PackConsolidator();
    PackConsolidator(const PackConsolidator&) = delete;
    PackConsolidator& operator=(const PackConsolidator&) = delete;

    // A fetch round (or ref refresh) may have added a pack. Never blocks on the repack: it only
    // counts, and wakes the consolidation thread once the clone may hold more than maxPacks.
    void packAdded();

    // Returns once no count or repack is due or running (tests: wait for the background work
    // deterministically), or at once when the consolidator is stopping or disabled.
    void waitUntilIdle();

    struct Counters {
        uint64_t consolidations = 0;  // repacks that succeeded
        uint64_t failures = 0;        // repacks that failed (the old packs stayed)
    };
    [[nodiscard]] Counters counters() const;

    // Pack files (objects/pack/pack-*.pack) in repository; 0 when the folder cannot be read.
    static size_t countPacks(const std::filesystem::path& repository);

private:
    void threadLoop();
    // Counts the packs and repacks when there are more than maxPacks; returns how many more
    // packAdded() calls may come before the next count is worth making.
    uint64_t checkOnce();

    const Options options_;
    const OnRepacked onRepacked_;

    // Lock order: a leaf. Never held while git runs, while counting or while onRepacked_ runs.
    mutable std::mutex mutex_;
    std::condition_variable work_;  // the thread: a count is due, or stopping
    std::condition_variable idle_;  // waitUntilIdle: the thread finished its work
    bool stopping_ = false;
    bool due_ = true;                // a count is wanted (the first one at start)
    bool running_ = false;           // the thread is counting or repacking
    uint64_t addedSinceCount_ = 0;   // packAdded() calls since the last count started
    uint64_t addedBeforeCount_ = 0;  // ... after which the next count is due
    Counters counters_;

    std::thread thread_;  // last: started after everything above exists
};

}  // namespace megafuse::store
