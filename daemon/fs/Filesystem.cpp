// Filesystem: FUSE handlers over the ObjectStore. Every answer is built to be cached by the
// kernel for long (the tree is immutable), and every request the kernel can learn to stop sending
// (xattrs, flush) is answered so that it stops.
//
// What a missing blob costs (the size-prefetch policy). A file's st_size is its blob's size, and a
// blob that is not local costs a network round trip, whose fixed cost (two git processes, the
// server's pack-objects, index-pack: ~90 ms on loopback) dwarfs a source file's bytes. So:
//  - readdir and readdirplus never fetch file contents: readdirplus gives attributes only for
//    entries whose size is known locally and leaves the rest (e.ino = 0) to a later lookup;
//  - a lookup of a file whose blob is missing fetches it together with the directory's other
//    missing blobs, in one prefetchBlobs() call (one round trip for a store whose
//    fetchesInBatches(): a Git partial clone): whoever reads one file of a
//    directory (a build, grep -r, an editor, a test runner) reads its neighbours next, and a
//    second round trip for them costs more than the bytes of the whole directory. The batch is
//    the wanted blob and the next missing ones in tree order, at most directoryPrefetchMaxBlobs;
//    a miss past them starts the next batch. Concurrent lookups in that directory wait for it;
//  - if the directory was listed (readdir at offset 0) within listingPrefetchWindow, that
//    batch takes every missing blob (up to listingPrefetchMaxBlobs): `ls -l` needs all sizes;
//  - a store that fetches blob by blob (Mega: one HTTP request each) batches a directory only
//    once a reader shows it is walking: on the second miss in a directory within
//    listingPrefetchWindow of the first, and then on the first miss in any other directory as
//    long as such batches follow each other within listingPrefetchWindow;
//  - a directory whose missing blobs were all asked for is remembered (by tree id, bounded):
//    a later miss there fetches only its blob. A failed batch is logged and not remembered:
//    the lookup fetches its blob alone, and the next miss there batches again.
// Not bounded by bytes, and large blobs are not kept out: a blob:none partial clone does not
// know the size of a blob it has not fetched, so only the count bounds a batch: at worst it
// brings directoryPrefetchMaxBlobs large files (docs/benchmarks.md: why not a server filter).
#include "fs/Filesystem.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fs/FuseReply.hpp"

namespace megafuse::fs {

using store::EntryKind;
using store::ObjectId;
using store::StoreError;
using store::Tree;
using store::TreeEntry;

namespace {

// The kernel's FUSE_NAME_MAX: a longer name in a readdir reply fails the whole listing (EIO).
constexpr size_t kFuseNameMax = 1024;
// libfuse's convention for "inode number not known" in a readdir entry.
constexpr ino_t kUnknownIno = 0xffffffffU;
constexpr blksize_t kBlockSize = 4096;

mode_t modeOf(EntryKind kind) {
    switch (kind) {
        case EntryKind::Regular:
            return S_IFREG | 0444;
        case EntryKind::Executable:
            return S_IFREG | 0555;
        case EntryKind::Symlink:
            return S_IFLNK | 0777;
        case EntryKind::Directory:
        case EntryKind::Gitlink:
            return S_IFDIR | 0555;
    }
    return S_IFREG | 0444;
}

// Names Git should never store but a hostile or broken tree might: listing them would confuse
// every path walker, or make the kernel reject the whole readdir reply.
bool isListableName(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.size() <= kFuseNameMax;
}

Filesystem& self(fuse_req_t req) {
    return *static_cast<Filesystem*>(fuse_req_userdata(req));
}

void replyReadOnly(fuse_req_t req) {
    fuse_reply_err(req, EROFS);
}

}  // namespace

struct Filesystem::OpenFile {
    UniqueFd fd;  // on the content-cache file; valid even if the cache evicts the file
};

struct Filesystem::OpenDirectory {
    std::shared_ptr<const Tree> tree;  // held open so readdir offsets index one fixed listing
    fuse_ino_t parent = FUSE_ROOT_ID;
};

// References handed to the kernel by one readdirplus reply. Until commit() they are taken back
// on every way out (buffer full, exception, failed reply), so the kernel's and our lookup counts
// never drift apart.
class Filesystem::CountedEntries {
public:
    CountedEntries(InodeTable& table, size_t expected) : table_(table) { inos_.reserve(expected); }
    CountedEntries(const CountedEntries&) = delete;
    CountedEntries& operator=(const CountedEntries&) = delete;
    ~CountedEntries() {
        for (fuse_ino_t ino : inos_) {
            table_.forget(ino, 1);
        }
    }
    void add(fuse_ino_t ino) { inos_.push_back(ino); }
    void dropLast() {
        table_.forget(inos_.back(), 1);
        inos_.pop_back();
    }
    void commit() { inos_.clear(); }

private:
    InodeTable& table_;
    std::vector<fuse_ino_t> inos_;
};

Filesystem::Filesystem(std::shared_ptr<store::ObjectStore> store, const ObjectId& root,
                       int64_t commitTime, const FsOptions& options)
    : store_(std::move(store)),
      options_(options),
      time_{static_cast<time_t>(commitTime), 0},
      uid_(::getuid()),
      gid_(::getgid()),
      inodes_(root) {}

Filesystem::~Filesystem() = default;

template <typename Fn>
void Filesystem::guarded(fuse_req_t req, const char* operation, fuse_ino_t ino, const char* name,
                         Fn&& handler) noexcept {
    // Handlers reply as their last step, so an exception here means no reply was sent yet.
    auto where = [&] { return requestPath(describe(ino), name); };
    try {
        std::forward<Fn>(handler)();
    } catch (const StoreError& e) {
        spdlog::warn("{} {}: {} ({})", operation, where(), e.what(), store::toString(e.code()));
        fuse_reply_err(req, e.toErrno());
    } catch (const std::exception& e) {
        spdlog::error("{} {}: unexpected error: {}", operation, where(), e.what());
        fuse_reply_err(req, EIO);
    } catch (...) {
        spdlog::error("{} {}: unexpected non-standard exception", operation, where());
        fuse_reply_err(req, EIO);
    }
}

std::string Filesystem::describe(fuse_ino_t ino) const {
    try {
        return inodes_.pathOf(ino);
    } catch (...) {
        return "inode " + std::to_string(ino);
    }
}

struct stat Filesystem::attributesOf(const InodeInfo& info) const {
    struct stat st {};
    st.st_ino = info.ino;
    st.st_mode = modeOf(info.kind);
    // Directories say 1 link, the btrfs convention for "subdirectories not counted": with 2,
    // find's leaf optimization would assume there are none.
    st.st_nlink = 1;
    st.st_uid = uid_;
    st.st_gid = gid_;
    st.st_size = info.isDirectory() ? 0 : static_cast<off_t>(info.size);
    st.st_blksize = kBlockSize;
    st.st_blocks = static_cast<blkcnt_t>((info.size + 511) / 512);
    st.st_atim = time_;
    st.st_mtim = time_;
    st.st_ctim = time_;
    return st;
}

fuse_entry_param Filesystem::entryOf(const InodeInfo& info) const {
    fuse_entry_param e{};
    e.ino = info.ino;
    e.generation = 0;  // inode numbers never repeat within a session
    e.attr = attributesOf(info);
    e.attr_timeout = options_.attrTimeout.count();
    e.entry_timeout = options_.entryTimeout.count();
    return e;
}

void Filesystem::replyEntry(fuse_req_t req, const InodeInfo& info) {
    fuse_entry_param e = entryOf(info);
    if (fuse_reply_entry(req, &e) != 0) {
        // The kernel never saw it (request interrupted): it will never forget it either.
        inodes_.forget(info.ino, 1);
    }
}

void Filesystem::init(fuse_conn_info* conn) {
    conn->max_background = options_.maxBackground;
    conn->congestion_threshold = options_.maxBackground * 3 / 4;
    auto want = [conn](unsigned capability) {
        if ((conn->capable & capability) != 0) {
            conn->want |= capability;
        }
    };
    want(FUSE_CAP_CACHE_SYMLINKS);
    want(FUSE_CAP_SPLICE_WRITE);  // read replies spliced from the content-cache fd, no copy
    want(FUSE_CAP_PARALLEL_DIROPS);
    want(FUSE_CAP_ASYNC_READ);
    // Contents never change under a mount: nothing to revalidate on attribute refreshes.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    // Not a want: the kernel offers it, and opendir's ENOSYS takes it (see opendir).
    kernelOpensDirectories_ = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
    if (!options_.readdirPlus) {
        conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    }
    spdlog::debug("fuse init: protocol 7.{}, want 0x{:x}, max_background {}", conn->proto_minor,
                  conn->want, conn->max_background);
}

void Filesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    spdlog::trace("lookup {} '{}'", parent, name);
    guarded(req, "lookup", parent, name, [&] {
        if (auto existing = inodes_.lookupExisting(parent, name)) {
            replyEntry(req, *existing);
            return;
        }
        auto dir = inodes_.get(parent);
        if (!dir) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        if (!dir->isDirectory()) {
            fuse_reply_err(req, ENOTDIR);
            return;
        }
        const TreeEntry* entry = nullptr;
        std::shared_ptr<const Tree> tree;
        if (dir->kind == EntryKind::Directory) {
            tree = store_->readTree(dir->id);
            entry = tree->find(name);
        }
        if (entry == nullptr) {
            // A negative entry the kernel caches: build tools probe many names that never exist.
            fuse_entry_param e{};
            e.entry_timeout = options_.negativeTimeout.count();
            fuse_reply_entry(req, &e);
            return;
        }
        const uint64_t size = entry->isBlob() ? blobSizeForLookup(parent, *tree, *entry) : 0;
        auto info = inodes_.lookupInTree(parent, tree->id(), *entry, size);
        if (!info) {
            lookup(req, parent, name);  // a refresh swapped the tree meanwhile: ask the new one
            return;
        }
        replyEntry(req, *info);
    });
}

uint64_t Filesystem::blobSizeForLookup(fuse_ino_t dir, const Tree& tree, const TreeEntry& entry) {
    if (!store_->hasBlob(entry.id)) {
        prefetchDirectory(dir, tree, entry);
    }
    return store_->blobSize(entry.id);  // one fetch of just this blob if it is still missing
}

void Filesystem::rememberPrefetched(const ObjectId& tree) {
    if (options_.prefetchedDirectoriesMax == 0 || !prefetchedTrees_.insert(tree).second) {
        return;
    }
    prefetchedOrder_.push_back(tree);
    if (prefetchedOrder_.size() > options_.prefetchedDirectoriesMax) {
        prefetchedTrees_.erase(prefetchedOrder_.front());
        prefetchedOrder_.pop_front();
    }
}

void Filesystem::prefetchDirectory(fuse_ino_t dir, const Tree& tree, const TreeEntry& wanted) {
    std::shared_future<void> running;
    std::promise<void> done;
    bool listed = false;
    {
        std::lock_guard lock(prefetchMutex_);
        if (auto it = prefetchesInFlight_.find(dir); it != prefetchesInFlight_.end()) {
            running = it->second;
        } else {
            const auto now = std::chrono::steady_clock::now();
            const auto window = options_.listingPrefetchWindow;
            listed = inodes_.claimListingPrefetch(dir, now, window);
            if (!listed && prefetchedTrees_.count(tree.id()) != 0) {
                return;
            }
            // A store that sends each blob on its own request (Mega) gains nothing from
            // neighbours asked for together, so there a reader must first show it is walking:
            // a second miss in a directory, or a miss within window of such a batch elsewhere.
            const bool walked = store_->fetchesInBatches() ||
                                inodes_.claimSecondMissPrefetch(dir, now, window) ||
                                (lastWalkBatchAt_ && now - *lastWalkBatchAt_ <= window);
            if (!listed && !walked) {
                return;
            }
            if (!listed) {
                lastWalkBatchAt_ = now;
            }
            prefetchesInFlight_.emplace(dir, done.get_future().share());
        }
    }
    if (running.valid()) {
        running.wait();  // its outcome is not ours to report: our own blobSize says
        return;
    }
    // This thread runs the batch; whatever happens, waiters are released and the entry goes.
    struct Finish {
        Filesystem& fs;
        fuse_ino_t dir;
        std::promise<void>& done;
        ~Finish() {
            done.set_value();
            std::lock_guard lock(fs.prefetchMutex_);
            fs.prefetchesInFlight_.erase(dir);
        }
    } finish{*this, dir, done};

    // A listing needs every size. A reader reads on from the wanted file in tree order, so its
    // batch is the next directoryPrefetchMaxBlobs missing blobs from there (wrapping around).
    const std::vector<TreeEntry>& entries = tree.entries();
    size_t start = 0;
    if (!listed && &wanted >= entries.data() && &wanted < entries.data() + entries.size()) {
        start = static_cast<size_t>(&wanted - entries.data());
    }
    const size_t limit = std::max<size_t>(
        1, listed ? options_.listingPrefetchMaxBlobs : options_.directoryPrefetchMaxBlobs);
    std::vector<ObjectId> missing{wanted.id};
    std::unordered_set<ObjectId, store::ObjectIdHash> seen{wanted.id};
    bool whole = true;  // every missing blob of the directory is in this batch
    for (size_t k = 0; k < entries.size(); ++k) {
        const TreeEntry& e = entries[(start + k) % entries.size()];
        if (e.isBlob() && seen.insert(e.id).second && !store_->hasBlob(e.id)) {
            if (missing.size() == limit) {
                whole = false;
                break;
            }
            missing.push_back(e.id);
        }
    }
    try {
        store_->prefetchBlobs(missing);
        spdlog::debug("/{}: fetched {} blobs in one batch ({})", describe(dir), missing.size(),
                      listed ? "listed" : (whole ? "whole directory" : "part of the directory"));
    } catch (const StoreError& e) {
        // Not remembered: after an outage the next miss here batches again. The wanted blob's
        // own fetch (blobSize) joins this round if it is still running, so a hung server costs
        // one fetch_timeout, not two.
        whole = false;
        spdlog::warn("/{}: batched fetch of {} blobs failed ({}); fetching the wanted one alone",
                     describe(dir), missing.size(), e.what());
    }
    if (whole) {
        std::lock_guard lock(prefetchMutex_);
        rememberPrefetched(tree.id());
    }
}

void Filesystem::forget(fuse_ino_t ino, uint64_t nlookup) {
    try {
        inodes_.forget(ino, nlookup);
    } catch (const std::exception& e) {
        spdlog::error("forget inode {}: {}", ino, e.what());
    }
}

void Filesystem::getattr(fuse_req_t req, fuse_ino_t ino) {
    spdlog::trace("getattr {}", ino);
    guarded(req, "getattr", ino, nullptr, [&] {
        auto info = inodes_.get(ino);
        if (!info) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        struct stat st = attributesOf(*info);
        fuse_reply_attr(req, &st, options_.attrTimeout.count());
    });
}

void Filesystem::readlink(fuse_req_t req, fuse_ino_t ino) {
    spdlog::trace("readlink {}", ino);
    guarded(req, "readlink", ino, nullptr, [&] {
        auto info = inodes_.get(ino);
        if (!info) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        if (info->kind != EntryKind::Symlink) {
            fuse_reply_err(req, EINVAL);
            return;
        }
        std::optional<std::string> target = inodes_.symlinkTarget(ino);
        if (!target) {
            target = store_->readBlob(info->id, options_.maxSymlinkBytes);
            inodes_.setSymlinkTarget(ino, *target);
        }
        fuse_reply_readlink(req, target->c_str());
    });
}

void Filesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    spdlog::trace("open {}", ino);
    guarded(req, "open", ino, nullptr, [&] {
        auto info = inodes_.get(ino);
        if (!info) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        if (info->isDirectory()) {
            fuse_reply_err(req, EISDIR);
            return;
        }
        if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0) {
            fuse_reply_err(req, EROFS);
            return;
        }
        auto file = std::make_unique<OpenFile>();
        file->fd = store_->openBlob(info->id);
        fi->fh = openFiles_.add(std::move(file));
        fi->keep_cache = 1;  // same inode, same bytes: page cache survives close/open
        fi->noflush = 1;
        if (fuse_reply_open(req, fi) != 0) {
            openFiles_.remove(fi->fh);  // interrupted: the kernel will never release it
        }
    });
}

void Filesystem::read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
    const OpenFile& file = HandleTable<OpenFile>::get(fi->fh);
    replyReadFromFd(req, file.fd.get(), size, off);
}

void Filesystem::release(fuse_req_t req, fuse_file_info* fi) {
    openFiles_.remove(fi->fh);
    fuse_reply_err(req, 0);
}

Filesystem::OpenDirectory Filesystem::directoryOf(const InodeInfo& info) {
    OpenDirectory dir;
    dir.parent = info.parent;
    if (info.kind == EntryKind::Directory) {  // a gitlink lists as empty
        dir.tree = store_->readTree(info.id);
    }
    return dir;
}

void Filesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "opendir", ino, nullptr, [&] {
        auto info = inodes_.get(ino);
        if (!info) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        if (!info->isDirectory()) {
            fuse_reply_err(req, ENOTDIR);
            return;
        }
        if (kernelOpensDirectories_) {
            // Zero-message opendir: the kernel opens (and releases) directories itself from now
            // on, with FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE. A warm walk then sends no request
            // per directory at all; readdir reads the tree through the inode (fh 0).
            fuse_reply_err(req, ENOSYS);
            return;
        }
        auto dir = std::make_unique<OpenDirectory>(directoryOf(*info));
        fi->fh = openDirectories_.add(std::move(dir));
        fi->cache_readdir = 1;  // the kernel keeps the listing; later readdirs never reach us
        fi->keep_cache = 1;
        if (fuse_reply_open(req, fi) != 0) {
            openDirectories_.remove(fi->fh);
        }
    });
}

fuse_entry_param Filesystem::plusEntry(fuse_ino_t dir, const ObjectId& dirTree,
                                       const TreeEntry& entry, CountedEntries& counted) {
    // A listing opened before a refresh shows the old tree: its entries get names only.
    std::optional<InodeInfo> info;
    if (entry.isDirectory()) {
        info = inodes_.lookupInTree(dir, dirTree, entry, 0);
    } else if (auto existing = inodes_.lookupExisting(dir, entry.name)) {
        info = existing;
    } else if (store_->hasBlob(entry.id)) {
        info = inodes_.lookupInTree(dir, dirTree, entry, store_->blobSize(entry.id));  // no fetch
    }
    if (!info) {
        fuse_entry_param e{};  // ino 0: name only; the kernel looks it up when it needs more
        e.attr.st_ino = kUnknownIno;
        e.attr.st_mode = modeOf(entry.kind);
        return e;
    }
    counted.add(info->ino);
    return entryOf(*info);
}

void Filesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                         bool plus) {
    spdlog::trace("{} {} at {}", plus ? "readdirplus" : "readdir", ino, off);
    guarded(req, plus ? "readdirplus" : "readdir", ino, nullptr, [&] {
        // fh 0: opened by the kernel alone (zero-message opendir). The tree of one id never
        // changes, so reading it again per call keeps offsets valid across calls.
        std::optional<OpenDirectory> unopened;
        if (fi->fh == 0) {
            auto info = inodes_.get(ino);
            if (!info) {
                fuse_reply_err(req, ENOENT);
                return;
            }
            unopened = directoryOf(*info);
        }
        const OpenDirectory& dir = unopened ? *unopened : HandleTable<OpenDirectory>::get(fi->fh);
        if (off == 0) {
            inodes_.markListed(ino, std::chrono::steady_clock::now());
        }
        static const std::vector<TreeEntry> kNoEntries;
        const std::vector<TreeEntry>& entries = dir.tree ? dir.tree->entries() : kNoEntries;
        // Offsets: 0 ".", 1 "..", 2 + i the tree's i-th entry; each record carries the offset
        // of the one after it. The tree is fixed, so offsets stay valid across calls.
        const auto total = static_cast<off_t>(entries.size() + 2);
        const off_t first = std::max<off_t>(off, 0);
        std::vector<char> buffer(size);
        size_t used = 0;
        CountedEntries counted(
            inodes_, plus ? std::min<size_t>(total - std::min(first, total), size / 64 + 1) : 0);
        for (off_t i = first; i < total; ++i) {
            const char* name = nullptr;
            const TreeEntry* entry = nullptr;
            struct stat st {};
            if (i < 2) {
                name = i == 0 ? "." : "..";
                st.st_ino = i == 0 ? ino : dir.parent;
                st.st_mode = S_IFDIR | 0555;
            } else {
                entry = &entries[static_cast<size_t>(i - 2)];
                if (!isListableName(entry->name)) {
                    continue;
                }
                name = entry->name.c_str();
            }
            size_t needed = 0;
            char* out = buffer.data() + used;
            const size_t room = size - used;
            if (plus) {
                fuse_entry_param e{};
                if (entry == nullptr) {
                    e.attr = st;  // "." and "..": no reference counted, as in the kernel
                } else {
                    e = plusEntry(ino, dir.tree->id(), *entry, counted);
                }
                needed = fuse_add_direntry_plus(req, out, room, name, &e, i + 1);
                if (needed > room && e.ino != 0) {
                    counted.dropLast();
                }
            } else {
                if (entry != nullptr) {
                    st.st_ino = inodes_.peekChild(ino, entry->name).value_or(kUnknownIno);
                    st.st_mode = modeOf(entry->kind);
                }
                needed = fuse_add_direntry(req, out, room, name, &st, i + 1);
            }
            if (needed > room) {
                break;
            }
            used += needed;
        }
        if (fuse_reply_buf(req, buffer.data(), used) == 0) {
            counted.commit();
        }
    });
}

void Filesystem::releasedir(fuse_req_t req, fuse_file_info* fi) {
    openDirectories_.remove(fi->fh);
    fuse_reply_err(req, 0);
}

void Filesystem::statfs(fuse_req_t req) {
    // A read-only view: no free blocks or inodes to offer. Capacity is the local disk the mount
    // may fill (the content cache budget); files are the inodes the kernel holds now.
    struct statvfs st {};
    st.f_bsize = kBlockSize;
    st.f_frsize = kBlockSize;
    st.f_blocks = options_.reportedCapacityBytes / kBlockSize;
    st.f_files = inodes_.size();
    st.f_namemax = kFuseNameMax;
    fuse_reply_statfs(req, &st);
}

ObjectId Filesystem::rootTree() const {
    return inodes_.get(FUSE_ROOT_ID)->id;
}

Invalidations Filesystem::refresh(const ObjectId& newRoot) {
    // Plan: every live directory whose tree changed, parents first, with both trees. Only the
    // new trees of those directories are read; an unchanged directory is never asked for.
    struct Swap {
        fuse_ino_t ino;
        ObjectId oldId;
        std::shared_ptr<const Tree> newTree;
        std::shared_ptr<const Tree> oldTree;  // null when the store no longer has it
    };
    std::vector<Swap> plan;
    std::unordered_set<fuse_ino_t> planned;
    std::vector<std::pair<fuse_ino_t, ObjectId>> pending{{FUSE_ROOT_ID, newRoot}};
    Invalidations out;
    for (size_t next = 0; next < pending.size(); ++next) {
        const auto [ino, newId] = pending[next];
        const auto info = inodes_.get(ino);
        if (!info || info->kind != EntryKind::Directory || info->id == newId) {
            continue;
        }
        Swap swap{ino, info->id, store_->readTree(newId), nullptr};
        ++out.directoriesRead;
        try {
            swap.oldTree = store_->readTree(info->id);  // usually still in the tree cache
        } catch (const StoreError&) {
            // Without it the table is scanned for the directory's children instead.
        }
        for (const auto& child : inodes_.liveChildren(ino, swap.oldTree.get())) {
            const TreeEntry* entry = swap.newTree->find(child.name);
            if (entry != nullptr && child.kind == EntryKind::Directory &&
                entry->kind == EntryKind::Directory && entry->id != child.id) {
                pending.emplace_back(child.ino, entry->id);
            }
        }
        planned.insert(ino);
        plan.push_back(std::move(swap));
    }
    // Apply, parents first. Which names the kernel may hold for a swapped directory: the
    // detached ones (positive entries), and names new or changed in its tree (negative entries
    // for names that did not exist) — except the subdirectories kept under their inode.
    for (const Swap& swap : plan) {
        const auto detached =
            inodes_.swapTree(swap.ino, swap.oldId, *swap.newTree, swap.oldTree.get(), planned);
        if (!detached) {
            continue;  // forgotten meanwhile
        }
        out.inodes.push_back(swap.ino);
        std::unordered_set<std::string> names(detached->begin(), detached->end());
        for (const TreeEntry& entry : swap.newTree->entries()) {
            const TreeEntry* old = swap.oldTree ? swap.oldTree->find(entry.name) : nullptr;
            if (old == nullptr || old->id != entry.id || old->kind != entry.kind) {
                names.insert(entry.name);
            }
        }
        for (const auto& name : names) {
            auto kept = inodes_.peekChild(swap.ino, name);
            if (!kept || !planned.contains(*kept)) {
                out.entries.emplace_back(swap.ino, name);
            }
        }
    }
    return out;
}

const fuse_lowlevel_ops& Filesystem::operations() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.init = [](void* userdata, fuse_conn_info* conn) {
            static_cast<Filesystem*>(userdata)->init(conn);
        };
        o.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
            self(req).lookup(req, parent, name);
        };
        o.forget = [](fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
            self(req).forget(ino, nlookup);
            fuse_reply_none(req);
        };
        o.forget_multi = [](fuse_req_t req, size_t count, fuse_forget_data* forgets) {
            for (size_t i = 0; i < count; ++i) {
                self(req).forget(forgets[i].ino, forgets[i].nlookup);
            }
            fuse_reply_none(req);
        };
        o.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
            self(req).getattr(req, ino);
        };
        o.readlink = [](fuse_req_t req, fuse_ino_t ino) { self(req).readlink(req, ino); };
        o.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
            self(req).open(req, ino, fi);
        };
        o.read = [](fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
            self(req).read(req, size, off, fi);
        };
        o.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
            self(req).release(req, fi);
        };
        o.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
            self(req).opendir(req, ino, fi);
        };
        o.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
            self(req).readdir(req, ino, size, off, fi, false);
        };
        o.readdirplus = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           fuse_file_info* fi) {
            self(req).readdir(req, ino, size, off, fi, true);
        };
        o.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
            self(req).releasedir(req, fi);
        };
        o.statfs = [](fuse_req_t req, fuse_ino_t) { self(req).statfs(req); };
        // ENOSYS makes the kernel stop asking for good: no xattrs means `ls -l` saves two round
        // trips per file, and there is nothing to flush on close.
        o.getxattr = [](fuse_req_t req, fuse_ino_t, const char*, size_t) {
            fuse_reply_err(req, ENOSYS);
        };
        o.listxattr = [](fuse_req_t req, fuse_ino_t, size_t) { fuse_reply_err(req, ENOSYS); };
        o.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, ENOSYS); };
        // The base tree is read-only (the kernel mostly answers EROFS itself: the mount is ro).
        o.setattr = [](fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) {
            replyReadOnly(req);
        };
        o.mknod = [](fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
            replyReadOnly(req);
        };
        o.mkdir = [](fuse_req_t req, fuse_ino_t, const char*, mode_t) { replyReadOnly(req); };
        o.unlink = [](fuse_req_t req, fuse_ino_t, const char*) { replyReadOnly(req); };
        o.rmdir = [](fuse_req_t req, fuse_ino_t, const char*) { replyReadOnly(req); };
        o.symlink = [](fuse_req_t req, const char*, fuse_ino_t, const char*) {
            replyReadOnly(req);
        };
        o.rename = [](fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
            replyReadOnly(req);
        };
        o.link = [](fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { replyReadOnly(req); };
        o.create = [](fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
            replyReadOnly(req);
        };
        o.write = [](fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
            replyReadOnly(req);
        };
        o.setxattr = [](fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
            replyReadOnly(req);
        };
        o.removexattr = [](fuse_req_t req, fuse_ino_t, const char*) { replyReadOnly(req); };
        o.fallocate = [](fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) {
            replyReadOnly(req);
        };
        return o;
    }();
    return ops;
}

}  // namespace megafuse::fs
