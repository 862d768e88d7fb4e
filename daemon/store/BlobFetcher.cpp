// BlobFetcher: a queue of rounds drained by worker threads, each round one git process.
#include "store/BlobFetcher.hpp"

#include <unordered_set>

#include "common/Log.hpp"
#include "store/GitCli.hpp"

namespace megafuse::store {

BlobFetcher::BlobFetcher(Options options, LocalSize localSize, OnFetched onFetched)
    : options_(std::move(options)),
      localSize_(std::move(localSize)),
      onFetched_(std::move(onFetched)) {
    size_t workers = std::max<size_t>(1, options_.concurrency);
    workers_.reserve(workers);
    for (size_t i = 0; i < workers; ++i) {
        workers_.emplace_back([this] { workerLoop(); });
    }
}

BlobFetcher::~BlobFetcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto& round : queue_) {
            round->done = true;
            round->error = StoreError(StoreErrc::FetchFailed,
                                      "store for " + options_.sourceName + " is closing");
        }
        queue_.clear();
        work_.notify_all();
        finished_.notify_all();
    }
    for (auto& worker : workers_) {
        worker.join();
    }
}

void BlobFetcher::fetch(const std::vector<ObjectId>& ids) {
    if (ids.empty()) {
        return;
    }
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    const size_t batchMax = std::max<size_t>(1, options_.batchMaxObjects);
    std::vector<std::shared_ptr<Round>> waitFor;
    std::unique_lock lock(mutex_);
    if (stopping_) {
        throw StoreError(StoreErrc::FetchFailed,
                         "store for " + options_.sourceName + " is closing");
    }
    for (const ObjectId& id : ids) {
        auto it = byId_.find(id);
        if (it == byId_.end()) {
            if (queue_.empty() || queue_.back()->ids.size() >= batchMax) {
                queue_.push_back(std::make_shared<Round>());
            }
            queue_.back()->ids.push_back(id);
            it = byId_.emplace(id, queue_.back()).first;
            work_.notify_one();
        }
        if (waitFor.empty() || waitFor.back() != it->second) {
            waitFor.push_back(it->second);
        }
    }
    std::unordered_set<Round*> seen;
    const std::unordered_set<ObjectId, ObjectIdHash> wanted(ids.begin(), ids.end());
    for (const auto& round : waitFor) {
        if (!seen.insert(round.get()).second) {
            continue;
        }
        if (!finished_.wait_until(lock, deadline, [&] { return round->done; })) {
            throw StoreError(StoreErrc::Timeout,
                             "fetch of " + std::to_string(ids.size()) + " object(s) from " +
                                 options_.sourceName + " did not finish within " +
                                 std::to_string(options_.timeout.count()) + " ms");
        }
        if (round->error) {
            throw StoreError(*round->error);  // a copy per waiter: the round's is shared
        }
        for (const ObjectId& id : round->undelivered) {
            if (wanted.count(id) != 0) {
                throw StoreError(StoreErrc::FetchFailed,
                                 "object " + id.hex() + " not sent by " + options_.sourceName);
            }
        }
    }
}

BlobFetcher::Counters BlobFetcher::counters() const {
    return Counters{objects_.load(), bytes_.load(), roundsRun_.load(), failures_.load()};
}

void BlobFetcher::workerLoop() {
    std::unique_lock lock(mutex_);
    while (true) {
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;
        }
        std::shared_ptr<Round> round = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            runRound(*round);
        } catch (const StoreError& e) {
            round->error = e;
        } catch (const std::exception& e) {
            round->error = StoreError(StoreErrc::FetchFailed,
                                      "fetch from " + options_.sourceName + ": " + e.what());
        }
        lock.lock();
        for (const ObjectId& id : round->ids) {
            if (auto it = byId_.find(id); it != byId_.end() && it->second == round) {
                byId_.erase(it);
            }
        }
        round->done = true;
        finished_.notify_all();
    }
}

void BlobFetcher::runRound(Round& round) {
    // Ids may have arrived since they were queued (an earlier round, another process sharing
    // the clone): a round with nothing missing runs no process.
    std::vector<ObjectId> missing;
    for (const ObjectId& id : round.ids) {
        if (!localSize_(id)) {
            missing.push_back(id);
        }
    }
    if (missing.empty()) {
        return;
    }
    std::string stdinData;
    stdinData.reserve(missing.size() * 41);
    for (const ObjectId& id : missing) {
        stdinData += id.hex();
        stdinData += '\n';
    }
    // The command git itself runs for a lazy fetch, with all ids of the round at once.
    // Its fixed cost (~90 ms on loopback) was timed under GIT_TRACE2_PERF for a 20-blob round
    // against a git daemon (git 2.39): connecting and upload-pack's start, the server's
    // pack-objects, then index-pack. Nothing of that is avoidable here: protocol v2 is the
    // default and no ls-refs is sent for raw ids; the clone's maintenance.auto=false already
    // keeps `git maintenance run --auto` from starting; a promisor fetch always keeps its pack
    // (index-pack), whatever fetch.unpackLimit says; no ref is updated, so
    // --no-show-forced-updates and fetch.writeCommitGraph change nothing. core.fsync=none would
    // save index-pack's two fsyncs (~50 ms of ~280 at load 11) but an OS crash could then leave
    // a pack its index points into truncated, which the store does not heal: not taken.
    auto result =
        runGit({"-C", options_.repository.string(), "-c", "fetch.negotiationAlgorithm=noop",
                "fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                "--filter=blob:none", "--stdin", "origin"},
               options_.timeout, std::move(stdinData));
    roundsRun_.fetch_add(1);
    if (!result.ok()) {
        failures_.fetch_add(1);
        std::string what =
            "fetch of " + std::to_string(missing.size()) + " object(s) from " + options_.sourceName;
        spdlog::warn("{}: {}", what, redactCredentials(result.describe()));
        throw StoreError(result.timedOut ? StoreErrc::Timeout : StoreErrc::FetchFailed,
                         redactCredentials(what + " failed: " + result.describe()));
    }
    onFetched_();
    for (const ObjectId& id : missing) {
        if (auto size = localSize_(id)) {
            objects_.fetch_add(1);
            bytes_.fetch_add(*size);
        } else {
            round.undelivered.push_back(id);
        }
    }
    spdlog::debug("fetched {} object(s) from {}", missing.size() - round.undelivered.size(),
                  options_.sourceName);
}

}  // namespace megafuse::store
