// ContentHashCache: the blob ids of overlay content files, kept between change walks so a file
// whose content file did not change since the last walk is not read and hashed again (what git's
// index does for `git status`). Bounded by entries, least recently used dropped first.
//
// An entry holds the content file's stat fingerprint: device, inode, size, mtime and ctime to
// the nanosecond. Every write, truncate, utimens or replacement of the file moves ctime (which no
// user can set back), so any change misses. A file changed so recently that a later change
// could carry the same timestamps ("racy", as git calls it: timestamps come from a coarse clock,
// and a write's ctime is set before its bytes land) is hashed but not kept: it is hashed again
// next time, until it has been still for the racy window.
//
// Thread-safety: every method may be called from any thread (concurrent `changes` calls share
// one mount's cache); one mutex guards the entries and is never held while a file is hashed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <list>
#include <mutex>
#include <unordered_map>

#include "overlay/OverlayStore.hpp"
#include "store/ObjectId.hpp"

namespace megafuse::changes {

class ContentHashCache {
public:
    // ~120 bytes an entry: the default bounds the cache near 8 MiB per writable mount, and
    // covers far more modified files than a working session usually has.
    static constexpr size_t kDefaultMaxEntries = 65536;
    // A file's ctime must be older than this when it is hashed for the id to be kept. A second
    // covers the coarse clock's tick and any single write still copying its bytes.
    static constexpr std::chrono::nanoseconds kDefaultRacyWindow = std::chrono::seconds(1);

    // maxEntries 0: nothing is kept (every call hashes).
    explicit ContentHashCache(size_t maxEntries = kDefaultMaxEntries,
                              std::chrono::nanoseconds racyWindow = kDefaultRacyWindow);
    ContentHashCache(const ContentHashCache&) = delete;
    ContentHashCache& operator=(const ContentHashCache&) = delete;

    // The Git blob id of the bytes of node's content file (at file). Throws
    // ChangeSetError(Failed) when the file cannot be read.
    store::ObjectId blobId(overlay::NodeId node, const std::filesystem::path& file);

    // Forgets every entry (the overlay was cleared: its node ids start again).
    void clear();

    struct Stats {
        uint64_t hits = 0;    // ids answered from an entry
        uint64_t misses = 0;  // files read and hashed
        size_t entries = 0;
    };
    [[nodiscard]] Stats stats() const;

private:
    // What stat says of a content file; equal fingerprints, same bytes (outside the racy window).
    struct Fingerprint {
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = 0;
        timespec mtime{};
        timespec ctime{};
        bool operator==(const Fingerprint& other) const;
    };
    struct Entry {
        overlay::NodeId node = 0;
        Fingerprint fingerprint;
        store::ObjectId id;
    };

    static Fingerprint fingerprintOf(const std::filesystem::path& file);
    void remember(overlay::NodeId node, const Fingerprint& fingerprint, const store::ObjectId& id);

    const size_t maxEntries_;
    const std::chrono::nanoseconds racyWindow_;
    mutable std::mutex mutex_;  // guards everything below; a leaf lock
    std::list<Entry> recent_;   // most recently used first
    std::unordered_map<overlay::NodeId, std::list<Entry>::iterator> byNode_;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
};

}  // namespace megafuse::changes
