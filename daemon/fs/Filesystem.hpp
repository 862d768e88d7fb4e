// Filesystem: the FUSE low-level operations for one read-only view of one Git tree. Knows the
// ObjectStore and the kernel's inode protocol; knows nothing of mounting, D-Bus or config files.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fs/HandleTable.hpp"
#include "fs/InodeTable.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::fs {

// Knobs of the filesystem; every one has a bound or a default that is safe for a monorepo.
struct FsOptions {
    // Kernel caches. The tree of one revision never changes, so the kernel may keep names and
    // attributes for long; a revision change invalidates explicitly (notify_inval_*).
    std::chrono::duration<double> entryTimeout{3600.0};
    std::chrono::duration<double> attrTimeout{3600.0};
    std::chrono::duration<double> negativeTimeout{3600.0};  // "no such name" answers
    // Requests the kernel keeps in flight (readahead, async reads). libfuse's 12 starves
    // parallel readers; each costs only a queued request, not a thread.
    unsigned maxBackground = 64;
    // readdirplus hands attributes with the listing for every entry whose size is known locally
    // (directories always), so `ls -l` of a local directory costs no lookup round trips.
    bool readdirPlus = true;
    // Size-prefetch policy (Filesystem.cpp; YAML prefetch_*, docs/config.md). A lookup that
    // needs a missing blob's size within this long after its directory was listed fetches the
    // directory's missing blobs in one batch of at most listingPrefetchMaxBlobs ids (`ls -l`
    // needs every size).
    std::chrono::milliseconds listingPrefetchWindow{10'000};
    size_t listingPrefetchMaxBlobs = 4096;
    // Any other lookup that needs a missing blob fetches it together with the directory's other
    // missing blobs (a store that does not fetch in batches: once the reader is walking, see
    // Filesystem.cpp), at most this many ids in all: the wanted blob and the missing ones after it
    // in tree order. A reader of a few files of a huge directory (include/linux: 1,400 files)
    // does not wait for all of it; a miss past the batch starts the next one.
    size_t directoryPrefetchMaxBlobs = 256;
    // Directories (by tree id) whose missing blobs were all asked for in one batch: a later miss
    // there (a blob the server did not send) fetches just that blob. At most this many
    // remembered; the oldest is forgotten first (it then costs one more batch, no more).
    size_t prefetchedDirectoriesMax = 16384;
    // Longest symlink target read (Git allows any blob; Linux allows PATH_MAX).
    size_t maxSymlinkBytes = 4096;
    // statfs: f_blocks in bytes (the mount's share of local disk: the content-cache budget).
    uint64_t reportedCapacityBytes = 0;
};

// What the kernel must drop after a refresh (fuse_lowlevel_notify_inval_entry/_inode). The
// caller sends them on its own thread, outside every lock: the kernel may call back into the
// filesystem while it drops them.
struct Invalidations {
    std::vector<std::pair<fuse_ino_t, std::string>> entries;  // (directory, name)
    std::vector<fuse_ino_t> inodes;                           // swapped directories
    size_t directoriesRead = 0;                               // new trees read for it
};

class Filesystem {
public:
    // root: the tree shown at the mount point. commitTime: seconds since the epoch, shown as
    // every inode's atime/mtime/ctime (one revision, one time).
    Filesystem(std::shared_ptr<store::ObjectStore> store, const store::ObjectId& root,
               int64_t commitTime, const FsOptions& options);
    Filesystem(const Filesystem&) = delete;
    Filesystem& operator=(const Filesystem&) = delete;
    ~Filesystem();

    // The operation table for fuse_session_new; userdata must be this Filesystem.
    static const fuse_lowlevel_ops& operations();

    [[nodiscard]] const InodeTable& inodes() const { return inodes_; }
    // Open files and directories the kernel has not released yet.
    [[nodiscard]] size_t openHandles() const { return openFiles_.size() + openDirectories_.size(); }
    [[nodiscard]] store::ObjectStore& store() const { return *store_; }
    // The tree shown at the mount point now (moves on refresh).
    [[nodiscard]] store::ObjectId rootTree() const;

    // Shows newRoot from now on, under the same inode numbers: walks down only the directories
    // whose tree changed and that the kernel knows (live inodes), reads their new trees (the
    // only store calls), then swaps them in top-down. Unchanged inodes keep their numbers;
    // removed and changed entries are detached (ENOENT or a new inode on the next lookup; open
    // files keep their bytes). Throws StoreError when a new tree cannot be read: then nothing
    // changed, and the next refresh starts over. Call from one thread at a time (the refresh
    // poll), never from a FUSE handler.
    Invalidations refresh(const store::ObjectId& newRoot);

    // Handlers, one per FUSE operation. Each replies exactly once and never throws: a StoreError
    // becomes its errno (logged once with the path), anything else EIO.
    void init(fuse_conn_info* conn);
    void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
    void forget(fuse_ino_t ino, uint64_t nlookup);
    void getattr(fuse_req_t req, fuse_ino_t ino);
    void readlink(fuse_req_t req, fuse_ino_t ino);
    void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
    void release(fuse_req_t req, fuse_file_info* fi);
    void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                 bool plus);
    void releasedir(fuse_req_t req, fuse_file_info* fi);
    void statfs(fuse_req_t req);

private:
    struct OpenFile;
    struct OpenDirectory;
    class CountedEntries;

    template <typename Fn>
    // Runs handler; on an exception replies its errno and logs the operation with the path of
    // ino (and name inside it, for lookups).
    void guarded(fuse_req_t req, const char* operation, fuse_ino_t ino, const char* name,
                 Fn&& handler) noexcept;

    [[nodiscard]] struct stat attributesOf(const InodeInfo& info) const;
    [[nodiscard]] fuse_entry_param entryOf(const InodeInfo& info) const;
    void replyEntry(fuse_req_t req, const InodeInfo& info);
    // Size of a file entry for a lookup, fetching under the size-prefetch policy.
    uint64_t blobSizeForLookup(fuse_ino_t dir, const store::Tree& tree,
                               const store::TreeEntry& entry);
    // Fetches wanted with the directory's other missing blobs in one batch, unless the
    // directory was already prefetched whole (then blobSizeForLookup fetches wanted alone).
    void prefetchDirectory(fuse_ino_t dir, const store::Tree& tree, const store::TreeEntry& wanted);
    // Remembers a directory prefetched whole; prefetchMutex_ held.
    void rememberPrefetched(const store::ObjectId& tree);
    // Fills e for one readdirplus entry; e.ino stays 0 (no attributes, no reference) when the
    // entry's size would cost a fetch.
    fuse_entry_param plusEntry(fuse_ino_t dir, const store::ObjectId& dirTree,
                               const store::TreeEntry& entry, CountedEntries& counted);
    // "a/b/c" for log lines (the mount-relative path, walked through live parents).
    [[nodiscard]] std::string describe(fuse_ino_t ino) const;
    // The listing of a directory inode (reads its tree; a gitlink has none).
    OpenDirectory directoryOf(const InodeInfo& info);

    std::shared_ptr<store::ObjectStore> store_;
    const FsOptions options_;
    const timespec time_;
    const uid_t uid_;
    const gid_t gid_;
    InodeTable inodes_;
    HandleTable<OpenFile> openFiles_;
    HandleTable<OpenDirectory> openDirectories_;
    // Set by init: the kernel can open directories without asking us (FUSE_CAP_NO_OPENDIR_SUPPORT).
    std::atomic<bool> kernelOpensDirectories_{false};

    // Directory prefetches in flight, per directory inode, so concurrent lookups in one
    // directory wait for its one batch instead of fetching blob by blob beside it. Entries live
    // only while the batch runs (bounded by the number of worker threads).
    // Lock order: prefetchMutex_ before InodeTable's mutex; never held across a store call.
    std::mutex prefetchMutex_;
    std::unordered_map<fuse_ino_t, std::shared_future<void>> prefetchesInFlight_;
    // Trees whose every missing blob was asked for once (set + arrival order, at most
    // prefetchedDirectoriesMax); guarded by prefetchMutex_.
    std::unordered_set<store::ObjectId, store::ObjectIdHash> prefetchedTrees_;
    std::deque<store::ObjectId> prefetchedOrder_;
    // When the last batch for a reader walking files (not for a listing) started, for stores
    // that do not fetch in batches; guarded by prefetchMutex_.
    std::optional<std::chrono::steady_clock::time_point> lastWalkBatchAt_;
};

}  // namespace megafuse::fs
