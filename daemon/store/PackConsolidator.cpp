// PackConsolidator: counts a clone's packs after fetch rounds, `git repack -a -d -k` off the
// readers' path when there are too many.
#include "store/PackConsolidator.hpp"

#include "common/Log.hpp"
#include "store/GitCli.hpp"

namespace megafuse::store {

PackConsolidator::PackConsolidator(Options options, OnRepacked onRepacked)
    : options_(std::move(options)), onRepacked_(std::move(onRepacked)) {
    if (options_.maxPacks == 0) {
        due_ = false;
        return;  // disabled: no thread, packAdded() only counts
    }
    thread_ = std::thread([this] { threadLoop(); });
}

PackConsolidator::~PackConsolidator() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        work_.notify_all();
        idle_.notify_all();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

void PackConsolidator::packAdded() {
    std::lock_guard lock(mutex_);
    ++addedSinceCount_;
    if (options_.maxPacks != 0 && !running_ && addedSinceCount_ >= addedBeforeCount_) {
        due_ = true;
        work_.notify_one();
    }
}

void PackConsolidator::waitUntilIdle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock,
               [this] { return stopping_ || options_.maxPacks == 0 || (!due_ && !running_); });
}

PackConsolidator::Counters PackConsolidator::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

size_t PackConsolidator::countPacks(const std::filesystem::path& repository) {
    std::error_code ec;
    std::filesystem::directory_iterator it(repository / "objects" / "pack", ec);
    size_t packs = 0;
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        // git's temporary packs are tmp_pack_*: only finished ones count.
        const std::string name = it->path().filename().string();
        if (name.starts_with("pack-") && name.ends_with(".pack")) {
            ++packs;
        }
    }
    return packs;
}

void PackConsolidator::threadLoop() {
    std::unique_lock lock(mutex_);
    while (true) {
        work_.wait(lock, [this] { return stopping_ || due_; });
        if (stopping_) {
            return;
        }
        due_ = false;
        running_ = true;
        addedSinceCount_ = 0;  // packs added from here on are in the count, or counted next
        lock.unlock();
        const uint64_t budget = [this]() -> uint64_t {
            try {
                return checkOnce();
            } catch (const std::exception& e) {
                // Only starting git can throw (fork/pipe failure): the packs stay as they are.
                spdlog::warn("{}: cannot consolidate the packs of {}: {}", options_.sourceName,
                             options_.repository.string(), e.what());
                return options_.maxPacks;
            }
        }();
        lock.lock();
        running_ = false;
        addedBeforeCount_ = std::max<uint64_t>(budget, 1);  // never a count per wake-up
        if (addedSinceCount_ >= addedBeforeCount_) {
            due_ = true;  // rounds finished during the repack filled the budget already
        }
        idle_.notify_all();
    }
}

uint64_t PackConsolidator::checkOnce() {
    const size_t maxPacks = options_.maxPacks;
    const size_t before = countPacks(options_.repository);
    if (before <= maxPacks) {
        // A round adds at most one pack: no need to look again before the count can pass maxPacks.
        return maxPacks - before + 1;
    }
    const auto started = std::chrono::steady_clock::now();
    // -a -d: every pack into one, the old ones deleted once the new one is in place (a failed or
    // killed repack leaves them all). In a partial clone git 2.39 writes the objects of promisor
    // packs (all of ours) into a promisor pack of their own, reachable or not, and keeps the
    // .promisor marker, so blobs never read are still fetched lazily. --keep-unreachable: our
    // own commits (`megactl commit`) are not promisor objects, and one a later commit or checkout
    // left unreachable from refs/mega-fuse/* would otherwise be deleted for good once packed
    // (measured with git 2.39); nothing here ever prunes. No bitmap: nobody clones from this
    // repository, and a bare repository would write one by default.
    auto result = runGit({"-C", options_.repository.string(), "repack", "-a", "-d",
                          "--keep-unreachable", "-q", "--no-write-bitmap-index"},
                         options_.timeout);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    if (!result.ok()) {
        {
            std::lock_guard lock(mutex_);
            ++counters_.failures;
        }
        spdlog::warn("{}: repack of {} packs in {} failed after {} ms, they stay as they are: {}",
                     options_.sourceName, before, options_.repository.string(), ms,
                     redactCredentials(result.describe()));
        return maxPacks;  // try again after as many rounds, not after every one
    }
    // libgit2 handles keep reading packs they have open (the files are only unlinked); reopened
    // handles see the one new pack and nothing of the old ones.
    onRepacked_();
    const size_t after = countPacks(options_.repository);
    {
        std::lock_guard lock(mutex_);
        ++counters_.consolidations;
    }
    spdlog::info("{}: packs consolidated, {} -> {} (rounds that landed meanwhile stay), in {} ms",
                 options_.sourceName, before, after, ms);
    // Still too many (rounds kept landing during the repack): wait as long as after a failure
    // rather than repack again at once.
    return after < maxPacks ? maxPacks - after + 1 : maxPacks;
}

}  // namespace megafuse::store
