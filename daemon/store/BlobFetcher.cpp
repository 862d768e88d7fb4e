// BlobFetcher: a queue of rounds drained by worker threads, each round one fetch command on the
// worker's upload-pack session (git://) or one git process.
#include "store/BlobFetcher.hpp"

#include <unordered_set>

#include "common/Log.hpp"
#include "store/GitCli.hpp"

namespace megafuse::store {

BlobFetcher::BlobFetcher(Options options, LocalSize localSize, OnFetched onFetched)
    : options_(std::move(options)),
      localSize_(std::move(localSize)),
      onFetched_(std::move(onFetched)),
      daemonAddress_(GitDaemonAddress::parse(options_.remoteUrl)) {
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
    WorkerSession worker;  // destroyed (connection closed) when the worker ends
    std::unique_lock lock(mutex_);
    while (true) {
        const auto ready = [this] { return stopping_ || !queue_.empty(); };
        if (worker.session) {
            if (!work_.wait_until(lock, worker.session->lastUsed() + kSessionIdleLimit, ready)) {
                lock.unlock();
                worker.session.reset();
                lock.lock();
                continue;
            }
        } else {
            work_.wait(lock, ready);
        }
        if (stopping_) {
            return;
        }
        std::shared_ptr<Round> round = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            runRound(*round, worker);
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

void BlobFetcher::runRound(Round& round, WorkerSession& worker) {
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
    const auto started = UploadPackSession::Clock::now();
    const auto deadline = started + options_.timeout;
    roundsRun_.fetch_add(1);
    if (!daemonAddress_ || !fetchOverSession(missing, worker, deadline)) {
        fetchWithGit(missing, deadline);
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
    spdlog::debug("fetched {} object(s) from {} in {} ms",
                  missing.size() - round.undelivered.size(), options_.sourceName,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      UploadPackSession::Clock::now() - started)
                      .count());
}

bool BlobFetcher::fetchOverSession(const std::vector<ObjectId>& ids, WorkerSession& worker,
                                   UploadPackSession::Clock::time_point deadline) {
    if (worker.unsupported) {
        return false;
    }
    if (worker.session && worker.session->peerClosed()) {
        // The server went away while idle (restart, its own timeout): a new connection now
        // rather than a failed round.
        spdlog::debug("upload-pack session with {} closed by the server", options_.sourceName);
        worker.session.reset();
    }
    try {
        if (!worker.session) {
            worker.session = std::make_unique<UploadPackSession>(
                *daemonAddress_, options_.repository, options_.sourceName, deadline);
        }
        worker.session->fetch(ids, deadline);
        return true;
    } catch (const StoreError& e) {
        worker.session.reset();  // out of step with the server whatever happened
        const std::string what =
            "fetch of " + std::to_string(ids.size()) + " object(s) from " + options_.sourceName;
        if (e.code() == StoreErrc::Timeout || UploadPackSession::Clock::now() >= deadline) {
            // No second attempt: a reader never waits longer than the timeout.
            failures_.fetch_add(1);
            spdlog::warn("{}: {}", what, e.what());
            throw StoreError(StoreErrc::Timeout, what + " failed: " + e.what());
        }
        if (e.code() == StoreErrc::Unsupported) {
            worker.unsupported = true;
        }
        spdlog::info("{}: {}; falling back to git fetch", what, e.what());
        return false;
    } catch (const std::exception&) {
        worker.session.reset();  // e.g. index-pack could not be spawned: the round fails
        throw;
    }
}

void BlobFetcher::fetchWithGit(const std::vector<ObjectId>& ids,
                               UploadPackSession::Clock::time_point deadline) {
    const std::string what =
        "fetch of " + std::to_string(ids.size()) + " object(s) from " + options_.sourceName;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - UploadPackSession::Clock::now());
    if (left.count() <= 0) {
        failures_.fetch_add(1);
        throw StoreError(StoreErrc::Timeout, what + " failed: timed out after " +
                                                 std::to_string(options_.timeout.count()) + " ms");
    }
    std::string stdinData;
    stdinData.reserve(ids.size() * 41);
    for (const ObjectId& id : ids) {
        stdinData += id.hex();
        stdinData += '\n';
    }
    // The command git itself runs for a lazy fetch, with all ids of the round at once: for
    // file:// and http(s):// sources, and for git:// when the session failed. Its fixed cost
    // (~60-90 ms on loopback, GIT_TRACE2_PERF, git 2.39) is mostly the connection: for git://
    // ~55 ms are git daemon's fork + exec of upload-pack, which the session pays once per worker
    // instead of once per round. The rest cannot be avoided here: protocol v2 is the default
    // and no ls-refs is sent for raw ids; the clone's maintenance.auto=false already keeps `git
    // maintenance run --auto` from starting; a promisor fetch always keeps its pack
    // (index-pack), whatever fetch.unpackLimit says; no ref is updated, so
    // --no-show-forced-updates and fetch.writeCommitGraph change nothing. core.fsync=none would
    // save index-pack's two fsyncs (~50 ms of ~280 at load 11) but an OS crash could then leave
    // a pack its index points into truncated, which the store does not heal: not taken.
    auto result =
        runGit({"-C", options_.repository.string(), "-c", "fetch.negotiationAlgorithm=noop",
                "fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                "--filter=blob:none", "--stdin", "origin"},
               left, std::move(stdinData));
    if (!result.ok()) {
        failures_.fetch_add(1);
        spdlog::warn("{}: {}", what, redactCredentials(result.describe()));
        throw StoreError(result.timedOut ? StoreErrc::Timeout : StoreErrc::FetchFailed,
                         redactCredentials(what + " failed: " + result.describe()));
    }
}

}  // namespace megafuse::store
