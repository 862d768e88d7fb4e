// BlobFetcher: brings missing objects of one partial clone over the network — batched (one `git
// fetch --stdin` per round, up to fetchBatchMaxObjects ids), coalesced (ids asked for while a
// round runs join the next round) and single-flight (an id already queued or in flight is never
// asked for twice). Callers wait at most fetchTimeout.
//
// Threads: fetchConcurrency worker threads owned by the fetcher run the rounds; callers only
// queue ids and wait. Destruction stops the workers after their current round (bounded by the
// fetch timeout) and fails queued rounds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/ObjectId.hpp"
#include "store/StoreError.hpp"

namespace megafuse::store {

class BlobFetcher {
public:
    struct Options {
        std::filesystem::path repository;  // the partial clone fetched into
        std::string sourceName;            // for messages; credentials already redacted
        std::chrono::milliseconds timeout{30'000};
        size_t batchMaxObjects = 4096;
        size_t concurrency = 2;
    };
    // The object's size when it is in the local object database, nullopt when missing. Called
    // from worker threads: skips ids that arrived meanwhile, counts bytes after a round.
    using LocalSize = std::function<std::optional<uint64_t>(const ObjectId&)>;
    // Called after a round added objects (the store refreshes its libgit2 handles).
    using OnFetched = std::function<void()>;

    BlobFetcher(Options options, LocalSize localSize, OnFetched onFetched);
    ~BlobFetcher();
    BlobFetcher(const BlobFetcher&) = delete;
    BlobFetcher& operator=(const BlobFetcher&) = delete;

    // Returns when every id is local. Throws StoreError(Timeout) when that takes longer than
    // the timeout, StoreError(FetchFailed) with git's message when the round failed.
    void fetch(const std::vector<ObjectId>& ids);

    struct Counters {
        uint64_t objects = 0;
        uint64_t bytes = 0;
        uint64_t rounds = 0;
        uint64_t failures = 0;
    };
    [[nodiscard]] Counters counters() const;

private:
    struct Round {
        std::vector<ObjectId> ids;
        bool done = false;
        std::optional<StoreError> error;    // set when the round failed as a whole
        std::vector<ObjectId> undelivered;  // fetched without error, yet still missing
    };

    void workerLoop();
    void runRound(Round& round);

    const Options options_;
    const LocalSize localSize_;
    const OnFetched onFetched_;

    // Lock order: a leaf. Never held while git runs or while localSize_ is called.
    std::mutex mutex_;
    std::condition_variable work_;              // workers: a round was queued, or stopping
    std::condition_variable finished_;          // callers: a round is done
    std::deque<std::shared_ptr<Round>> queue_;  // not started; the back one still takes ids
    std::unordered_map<ObjectId, std::shared_ptr<Round>, ObjectIdHash> byId_;  // queued+running
    bool stopping_ = false;

    std::atomic<uint64_t> objects_{0};
    std::atomic<uint64_t> bytes_{0};
    std::atomic<uint64_t> roundsRun_{0};
    std::atomic<uint64_t> failures_{0};

    std::vector<std::thread> workers_;  // last: started after everything above exists
};

}  // namespace megafuse::store
