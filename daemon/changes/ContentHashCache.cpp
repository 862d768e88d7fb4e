// ContentHashCache: stat, compare with the entry, hash only on a miss — and keep the new id only
// when the file was still before the walk started and did not move while it was hashed.
#include "changes/ContentHashCache.hpp"

#include <git2.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "changes/ChangeSet.hpp"
#include "store/Libgit2.hpp"

namespace megafuse::changes {
namespace {

int64_t nanoseconds(const timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

bool sameTime(const timespec& a, const timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

bool ContentHashCache::Fingerprint::operator==(const Fingerprint& other) const {
    return device == other.device && inode == other.inode && size == other.size &&
           sameTime(mtime, other.mtime) && sameTime(ctime, other.ctime);
}

ContentHashCache::ContentHashCache(size_t maxEntries, std::chrono::nanoseconds racyWindow)
    : maxEntries_(maxEntries), racyWindow_(racyWindow) {}

ContentHashCache::Fingerprint ContentHashCache::fingerprintOf(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        throw ChangeSetError(ChangeSetErrc::Failed, "stat " + file.string() + ": " +
                                                        std::generic_category().message(errno));
    }
    return Fingerprint{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

store::ObjectId ContentHashCache::blobId(overlay::NodeId node, const std::filesystem::path& file) {
    // Read before the first stat, from the clock file timestamps come from (the coarse one; a
    // multigrain ctime is never behind it): any change after this instant gets a ctime >= now.
    timespec now{};
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    const Fingerprint before = fingerprintOf(file);
    {
        std::lock_guard lock(mutex_);
        if (auto it = byNode_.find(node); it != byNode_.end()) {
            if (it->second->fingerprint == before) {
                ++hits_;
                recent_.splice(recent_.begin(), recent_, it->second);
                return it->second->id;
            }
            recent_.erase(it->second);  // the file changed: that id is no longer its bytes'
            byNode_.erase(it);
        }
        ++misses_;
    }
    git_oid oid;
    if (git_odb_hashfile(&oid, file.c_str(), GIT_OBJECT_BLOB) != 0) {
        throw ChangeSetError(ChangeSetErrc::Failed, store::gitErrorText("hash " + file.string()));
    }
    const store::ObjectId id = store::fromGitOid(oid);
    const bool still = nanoseconds(before.ctime) < nanoseconds(now) - racyWindow_.count();
    if (still && fingerprintOf(file) == before) {
        remember(node, before, id);
    }
    return id;
}

void ContentHashCache::remember(overlay::NodeId node, const Fingerprint& fingerprint,
                                const store::ObjectId& id) {
    std::lock_guard lock(mutex_);
    if (maxEntries_ == 0) {
        return;
    }
    if (auto it = byNode_.find(node); it != byNode_.end()) {
        it->second->fingerprint = fingerprint;
        it->second->id = id;
        recent_.splice(recent_.begin(), recent_, it->second);
        return;
    }
    while (recent_.size() >= maxEntries_) {
        byNode_.erase(recent_.back().node);
        recent_.pop_back();
    }
    recent_.push_front(Entry{node, fingerprint, id});
    byNode_.emplace(node, recent_.begin());
}

void ContentHashCache::clear() {
    std::lock_guard lock(mutex_);
    byNode_.clear();
    recent_.clear();
}

ContentHashCache::Stats ContentHashCache::stats() const {
    std::lock_guard lock(mutex_);
    return Stats{hits_, misses_, recent_.size()};
}

}  // namespace megafuse::changes
