// WritableFilesystem: copy-on-write over the base tree.
//
// What each change costs:
//  - the first change inside a base directory materializes it and its ancestors (root first):
//    one overlay node per directory holding its tree's entries (names and ids, never bytes);
//  - the first open for writing (or truncate, chown, utimens) of a base file copies its blob
//    into a content file — unless it is truncated to 0 at open (O_TRUNC): then nothing is copied;
//  - rename or delete of anything, whole base directories included, is one entry update;
//  - chmod +x/-x of an unchanged base file switches its entry's Git mode, no copy.
// Unchanged files are read from the object store's content cache (splice, kernel page cache
// kept across opens), as in the read-only Filesystem. Writes go straight to the content file's
// fd: the database is not touched by write().
//
// errno choices: link() is EPERM (a node has one name, as in EdenFS); extended attributes: user.*
// only (others: ENODATA to read, EOPNOTSUPP to set), kept with the entry; mknod makes
// regular files and fifos only (EPERM for devices and sockets, as an unprivileged native mknod);
// locks (flock, fcntl) are left to the kernel, local to this machine.
#include "fs/WritableFilesystem.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "fs/FuseReply.hpp"
#include "store/StoreError.hpp"

namespace megafuse::fs {

using overlay::DirEntry;
using overlay::NodeAttributes;
using overlay::NodeId;
using overlay::NodeType;
using overlay::OverlayError;
using store::EntryKind;
using store::ObjectId;
using store::StoreError;

namespace {

constexpr ino_t kUnknownIno = 0xffffffffU;
constexpr blksize_t kBlockSize = 4096;
constexpr size_t kFuseNameMax = 1024;

// A handler's own refusal: replied as its errno, not logged.
class FsErrno : public std::exception {
public:
    explicit FsErrno(int value) : value_(value) {}
    [[nodiscard]] int value() const { return value_; }
    [[nodiscard]] const char* what() const noexcept override { return "errno"; }

private:
    int value_;
};

[[noreturn]] void fail(int error) {
    throw FsErrno(error);
}

WritableFilesystem& self(fuse_req_t req) {
    return *static_cast<WritableFilesystem*>(fuse_req_userdata(req));
}

mode_t typeBits(const Identity& identity) {
    if (identity.isBase()) {
        switch (identity.baseKind) {
            case EntryKind::Regular:
            case EntryKind::Executable:
                return S_IFREG;
            case EntryKind::Symlink:
                return S_IFLNK;
            case EntryKind::Directory:
            case EntryKind::Gitlink:
                return S_IFDIR;
        }
        return S_IFREG;
    }
    switch (identity.nodeType) {
        case NodeType::Directory:
            return S_IFDIR;
        case NodeType::File:
            return S_IFREG;
        case NodeType::Symlink:
            return S_IFLNK;
        case NodeType::Fifo:
            return S_IFIFO;
    }
    return S_IFREG;
}

Identity identityOf(const DirEntry& entry, NodeType nodeType) {
    return entry.isBase() ? Identity::ofBase(entry.baseId, entry.baseKind)
                          : Identity::ofNode(entry.node, nodeType);
}

// What a write, truncate or chown clears, as the kernel's setattr_should_drop_suidgid() (6.2 and
// later): set-user-ID always; set-group-ID when group-execute is set, or (without it, a
// mandatory-locking mark) when the caller is not in the file's group. HANDLE_KILLPRIV (on by
// default in libfuse) makes this the filesystem's job (docs/overlay.md).
mode_t killablePrivileges(mode_t permissions, bool callerInGroup) {
    mode_t kill = permissions & S_ISUID;
    if ((permissions & S_ISGID) != 0 && ((permissions & S_IXGRP) != 0 || !callerInGroup)) {
        kill |= S_ISGID;
    }
    return kill;
}

// A write or truncate keeps the bits when the caller has CAP_FSETID. A FUSE request carries no
// capabilities, only ids: uid 0 stands for it (root writing keeps them, as on a native folder).
bool callerMayKeepPrivileges(fuse_req_t req) {
    return fuse_req_ctx(req)->uid == 0;
}

bool hasSetIdBits(mode_t permissions) {
    return (permissions & (S_ISUID | S_ISGID)) != 0;
}

// in_group_or_capable(): the caller's group or supplementary groups hold gid (uid 0 for
// CAP_FSETID again). Reads /proc for the supplementary groups: only on the rare set-group-ID path.
bool callerInGroup(fuse_req_t req, gid_t gid) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    if (ctx->uid == 0 || ctx->gid == gid) {
        return true;
    }
    std::vector<gid_t> groups(64);
    int count = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
    if (count > static_cast<int>(groups.size())) {
        groups.resize(static_cast<size_t>(count));
        count = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
    }
    if (count <= 0) {
        return false;  // unknown: clearing is the safe side
    }
    groups.resize(std::min(groups.size(), static_cast<size_t>(count)));
    return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

void checkName(const char* name) {
    const size_t length = std::strlen(name);
    if (length > kFuseNameMax || length > NAME_MAX) {
        fail(ENAMETOOLONG);
    }
}

// Copies all of src into dst (both at offset 0), in the kernel where it can.
void copyAll(int src, int dst) {
    off_t in = 0;
    off_t out = 0;
    for (;;) {
        const ssize_t n = ::copy_file_range(src, &in, dst, &out, 1U << 30U, 0);
        if (n > 0) {
            continue;
        }
        if (n == 0) {
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
            fail(errno);
        }
        break;
    }
    char buffer[1U << 16U];
    for (;;) {
        const ssize_t n = ::pread(src, buffer, sizeof buffer, in);
        if (n == 0) {
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(errno);
        }
        ssize_t done = 0;
        while (done < n) {
            const ssize_t w = ::pwrite(dst, buffer + done, static_cast<size_t>(n - done), out);
            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fail(errno);
            }
            done += w;
            out += w;
        }
        in += n;
    }
}

// The namespace the overlay keeps. Others: trusted.* and security.* belong to the machine, not to
// a checkout, and system.* (ACLs) is not offered. The kernel has checked permissions already
// (default_permissions), and that user.* is set on regular files and directories only.
constexpr std::string_view kUserXattrPrefix = "user.";

bool isUserXattr(std::string_view name) {
    return name.substr(0, kUserXattrPrefix.size()) == kUserXattrPrefix;
}

// getxattr/listxattr's protocol: size 0 asks how many bytes; a smaller buffer is ERANGE.
void replySized(fuse_req_t req, const std::string& bytes, size_t size) {
    if (size == 0) {
        fuse_reply_xattr(req, bytes.size());
    } else if (bytes.size() > size) {
        fuse_reply_err(req, ERANGE);
    } else {
        fuse_reply_buf(req, bytes.data(), bytes.size());
    }
}

UniqueFd openContent(const std::filesystem::path& path, int flags) {
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) {
        fail(errno == ENOENT ? EIO : errno);  // a node without content: the overlay is damaged
    }
    return fd;
}

}  // namespace

struct WritableFilesystem::OpenFile {
    UniqueFd fd;
    bool overlayContent = false;  // false: a blob in the content cache (read-only)
    fuse_ino_t ino = 0;
    // The file has set-user-ID or set-group-ID, which a write may have to clear: set at open,
    // kept up to date by chmod and by the clearing itself. Read by every write without a lock,
    // so the usual write costs one relaxed load and no database read.
    mutable std::atomic<bool> hasSetIdBits{false};
};

struct WritableFilesystem::OpenDirectory {
    std::vector<Listed> entries;  // one listing, so offsets stay valid between readdir calls
    fuse_ino_t parent = FUSE_ROOT_ID;
};

WritableFilesystem::WritableFilesystem(std::shared_ptr<store::ObjectStore> store,
                                       overlay::OverlayStore& overlay, std::string subPath,
                                       WritableFsOptions options)
    : store_(std::move(store)),
      overlay_(overlay),
      subPath_(std::move(subPath)),
      options_(options),
      uid_(::getuid()),
      gid_(::getgid()),
      inodes_(Identity{}) {
    loadBase();
    inodes_.setIdentity(FUSE_ROOT_ID, rootIdentity());
}

WritableFilesystem::~WritableFilesystem() = default;

void WritableFilesystem::loadBase() {
    const std::optional<ObjectId> commit = overlay_.baseCommit();
    if (!commit) {
        throw OverlayError(EIO, "overlay " + overlay_.directory().string() + " has no base commit");
    }
    const ObjectId root = store_->treeAtPath(*commit, subPath_);
    const int64_t time = store_->commitTime(*commit);
    std::lock_guard lock(baseMutex_);
    baseRoot_ = root;
    baseTime_ = timespec{static_cast<time_t>(time), 0};
}

Identity WritableFilesystem::rootIdentity() const {
    if (!overlay_.empty()) {
        return Identity::ofNode(overlay::kRootNode, NodeType::Directory);
    }
    std::lock_guard lock(baseMutex_);
    return Identity::ofBase(baseRoot_, EntryKind::Directory);
}

void WritableFilesystem::attachSession(fuse_session* session) {
    std::lock_guard lock(sessionMutex_);
    session_ = session;
}

template <typename Fn>
void WritableFilesystem::guarded(fuse_req_t req, const char* operation, fuse_ino_t ino,
                                 const char* name, Fn&& handler) noexcept {
    auto where = [&] { return requestPath(describe(ino), name); };
    try {
        std::forward<Fn>(handler)();
    } catch (const FsErrno& e) {
        fuse_reply_err(req, e.value());
    } catch (const OverlayError& e) {
        if (e.errnoValue() == EIO || e.errnoValue() == ENOSPC) {
            spdlog::error("{} {}: {}", operation, where(), e.what());
        } else {
            spdlog::debug("{} {}: {}", operation, where(), e.what());
        }
        fuse_reply_err(req, e.errnoValue());
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

std::string WritableFilesystem::describe(fuse_ino_t ino) const {
    try {
        return inodes_.pathOf(ino);
    } catch (...) {
        return "inode " + std::to_string(ino);
    }
}

// --- identities

WritableInode WritableFilesystem::resolve(fuse_ino_t ino) {
    std::optional<WritableInode> inode = inodes_.get(ino);
    if (!inode) {
        fail(ENOENT);
    }
    if (ino == FUSE_ROOT_ID) {
        if (inode->identity.isBase() && !overlay_.empty()) {
            inode->identity = rootIdentity();
            inodes_.setIdentity(ino, inode->identity);
        }
        return *inode;
    }
    if (!inode->stale) {
        return *inode;
    }
    if (inode->unlinked) {
        return *inode;
    }
    const WritableInode parent = resolve(inode->parent);
    std::optional<Identity> now = parent.unlinked || !parent.identity.isDirectory()
                                      ? std::nullopt
                                      : childOf(parent.identity, inode->name);
    if (!now) {
        inodes_.unlinkChild(inode->parent, inode->name);
        inode->unlinked = true;
        return *inode;
    }
    inode->identity = *now;
    inodes_.setIdentity(ino, *now);
    return *inode;
}

std::optional<Identity> WritableFilesystem::childOf(const Identity& dir, std::string_view name) {
    if (!dir.isBase()) {
        std::optional<DirEntry> entry = overlay_.find(dir.node, name);
        if (!entry) {
            return std::nullopt;
        }
        if (entry->isBase()) {
            return Identity::ofBase(entry->baseId, entry->baseKind);
        }
        return Identity::ofNode(entry->node, overlay_.attributes(entry->node).type);
    }
    if (dir.baseKind != EntryKind::Directory) {
        return std::nullopt;  // a gitlink shows as an empty directory
    }
    const store::TreeEntry* entry = store_->readTree(dir.baseId)->find(name);
    if (entry == nullptr) {
        return std::nullopt;
    }
    return Identity::ofBase(entry->id, entry->kind);
}

std::vector<WritableFilesystem::Listed> WritableFilesystem::listOf(const Identity& dir) {
    std::vector<Listed> listed;
    if (!dir.isBase()) {
        for (const DirEntry& entry : overlay_.list(dir.node)) {
            const NodeType type =
                entry.isBase() ? NodeType::File : overlay_.attributes(entry.node).type;
            listed.push_back(Listed{entry.name, identityOf(entry, type)});
        }
    } else if (dir.baseKind == EntryKind::Directory) {
        for (const store::TreeEntry& entry : store_->readTree(dir.baseId)->entries()) {
            listed.push_back(Listed{entry.name, Identity::ofBase(entry.id, entry.kind)});
        }
    }
    return listed;
}

bool WritableFilesystem::directoryEmpty(const Identity& dir) {
    if (!dir.isBase()) {
        return overlay_.entryCount(dir.node) == 0;
    }
    return dir.baseKind != EntryKind::Directory || store_->readTree(dir.baseId)->entries().empty();
}

struct stat WritableFilesystem::attributesOf(fuse_ino_t ino, const Identity& identity) {
    struct stat st {};
    st.st_ino = ino;
    st.st_nlink = 1;  // directories too: the btrfs convention (see Filesystem.cpp)
    st.st_blksize = kBlockSize;
    if (identity.isBase()) {
        timespec time{};
        {
            std::lock_guard lock(baseMutex_);
            time = baseTime_;
        }
        switch (identity.baseKind) {
            case EntryKind::Regular:
                st.st_mode = S_IFREG | 0644;
                break;
            case EntryKind::Executable:
                st.st_mode = S_IFREG | 0755;
                break;
            case EntryKind::Symlink:
                st.st_mode = S_IFLNK | 0777;
                break;
            case EntryKind::Directory:
            case EntryKind::Gitlink:
                st.st_mode = S_IFDIR | 0755;
                break;
        }
        if (!identity.isDirectory()) {
            st.st_size = static_cast<off_t>(store_->blobSize(identity.baseId));
        }
        st.st_uid = uid_;
        st.st_gid = gid_;
        st.st_atim = time;
        st.st_mtim = time;
        st.st_ctim = time;
    } else {
        const NodeAttributes a = overlay_.attributes(identity.node);
        st.st_mode = typeBits(identity) | (a.permissions & 07777);
        st.st_uid = a.uid;
        st.st_gid = a.gid;
        st.st_atim = a.mtime;
        st.st_mtim = a.mtime;
        st.st_ctim = a.ctime;
        if (a.type == NodeType::File) {
            struct stat content {};
            if (::stat(overlay_.contentPath(identity.node).c_str(), &content) != 0) {
                fail(EIO);
            }
            st.st_size = content.st_size;
            st.st_atim = content.st_atim;
            st.st_mtim = content.st_mtim;
            st.st_ctim = content.st_ctim;
        } else if (a.type == NodeType::Symlink) {
            st.st_size = static_cast<off_t>(a.symlinkTarget.size());
        }
    }
    st.st_blocks = static_cast<blkcnt_t>((st.st_size + 511) / 512);
    return st;
}

fuse_entry_param WritableFilesystem::entryOf(fuse_ino_t ino, const Identity& identity) {
    fuse_entry_param e{};
    e.ino = ino;
    e.attr = attributesOf(ino, identity);
    e.attr_timeout = options_.attrTimeout.count();
    e.entry_timeout = options_.entryTimeout.count();
    return e;
}

void WritableFilesystem::replyEntry(fuse_req_t req, const WritableInode& inode) {
    fuse_entry_param e{};
    try {
        e = entryOf(inode.ino, inode.identity);
    } catch (...) {
        inodes_.forget(inode.ino, 1);
        throw;
    }
    if (fuse_reply_entry(req, &e) != 0) {
        inodes_.forget(inode.ino, 1);  // the kernel never saw it
    }
}

struct stat WritableFilesystem::attributesOfUnlinked(fuse_ino_t ino, fuse_file_info* fi) {
    int fd = -1;
    if (fi != nullptr && HandleTable<OpenFile>::get(fi->fh).overlayContent) {
        fd = HandleTable<OpenFile>::get(fi->fh).fd.get();
    }
    std::lock_guard lock(openMutex_);  // held across fstat: the handle cannot be released
    if (fd < 0) {
        auto it = openByInode_.find(ino);
        if (it == openByInode_.end()) {
            fail(ENOENT);
        }
        fd = it->second->fd.get();
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        fail(errno);
    }
    st.st_ino = ino;
    st.st_nlink = 0;
    st.st_uid = uid_;
    st.st_gid = gid_;
    st.st_mode = S_IFREG | (st.st_mode & 07777);
    return st;
}

uint64_t WritableFilesystem::addOpenFile(fuse_ino_t ino, std::unique_ptr<OpenFile> file) {
    file->ino = ino;
    const OpenFile* raw = file.get();
    const bool track = file->overlayContent;
    const uint64_t fh = openFiles_.add(std::move(file));
    if (track) {
        std::lock_guard lock(openMutex_);
        openByInode_.emplace(ino, raw);
    }
    return fh;
}

// --- set-user-ID and set-group-ID

bool WritableFilesystem::killPrivileges(fuse_req_t req, fuse_ino_t ino) {
    const WritableInode inode = resolve(ino);
    if (inode.identity.isBase() || inode.unlinked || inode.identity.nodeType != NodeType::File) {
        return false;  // base files have none; a gone name's node is no longer stored
    }
    NodeAttributes a = overlay_.attributes(inode.identity.node);
    const mode_t kill = hasSetIdBits(a.permissions)
                            ? killablePrivileges(a.permissions, callerInGroup(req, a.gid))
                            : 0;
    if (kill != 0) {
        a.permissions &= ~kill;
        a.ctime = now();
        overlay_.setAttributes(inode.identity.node, a);
    }
    noteSetIdBits(ino, a.permissions);
    return kill != 0;
}

void WritableFilesystem::noteSetIdBits(fuse_ino_t ino, mode_t permissions) {
    const bool setId = hasSetIdBits(permissions);
    std::lock_guard lock(openMutex_);
    auto [first, last] = openByInode_.equal_range(ino);
    for (auto it = first; it != last; ++it) {
        it->second->hasSetIdBits = setId;
    }
}

void WritableFilesystem::invalidateAttributes(fuse_ino_t ino) {
    fuse_session* session = nullptr;
    {
        std::lock_guard lock(sessionMutex_);
        session = session_;
    }
    // A negative offset drops the cached attributes only: no page is touched, so the kernel
    // does not call back and this may run on a FUSE worker.
    if (session != nullptr) {
        fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
    }
}

// --- copy-on-write

NodeId WritableFilesystem::materializeDirectory(fuse_ino_t ino) {
    const WritableInode inode = resolve(ino);
    if (inode.unlinked) {
        fail(ENOENT);
    }
    if (!inode.identity.isDirectory()) {
        fail(ENOTDIR);
    }
    if (!inode.identity.isBase()) {
        return inode.identity.node;
    }
    std::vector<store::TreeEntry> entries;
    if (inode.identity.baseKind == EntryKind::Directory) {
        entries = store_->readTree(inode.identity.baseId)->entries();
    }
    NodeAttributes attributes = overlay::attributesOfBaseKind(EntryKind::Directory);
    attributes.uid = uid_;
    attributes.gid = gid_;
    {
        std::lock_guard lock(baseMutex_);
        attributes.mtime = baseTime_;  // unchanged until something inside changes
        attributes.ctime = baseTime_;
    }
    NodeId node = 0;
    if (ino == FUSE_ROOT_ID) {
        overlay_.materializeRoot(entries, attributes);
        node = overlay::kRootNode;
    } else {
        const NodeId parent = materializeDirectory(inode.parent);
        overlay_.transaction([&] {
            node = overlay_.createNode(attributes, entries);
            overlay_.setIdentity(parent, DirEntry::overlayNode(inode.name, node));
        });
    }
    inodes_.setIdentity(ino, Identity::ofNode(node, NodeType::Directory));
    return node;
}

NodeId WritableFilesystem::materializeNode(fuse_ino_t ino, bool keepContent) {
    const WritableInode inode = resolve(ino);
    if (inode.unlinked && inode.identity.isBase()) {
        fail(ENOENT);
    }
    if (!inode.identity.isBase()) {
        return inode.identity.node;
    }
    if (inode.identity.isDirectory()) {
        return materializeDirectory(ino);
    }
    const Identity base = inode.identity;
    NodeAttributes attributes = overlay::attributesOfBaseKind(base.baseKind);
    attributes.uid = uid_;
    attributes.gid = gid_;
    {
        std::lock_guard lock(baseMutex_);
        attributes.mtime = baseTime_;
        attributes.ctime = baseTime_;
    }
    if (base.baseKind == EntryKind::Symlink) {
        attributes.symlinkTarget = store_->readBlob(base.baseId, options_.maxSymlinkBytes);
    }
    const NodeId parent = materializeDirectory(inode.parent);
    NodeId node = 0;
    overlay_.transaction([&] {
        node = overlay_.createNode(attributes);
        if (attributes.type == NodeType::File) {
            UniqueFd out = openContent(overlay_.contentPath(node), O_WRONLY);
            if (keepContent) {
                UniqueFd in = store_->openBlob(base.baseId);
                copyAll(in.get(), out.get());
            }
            // The copy shows the commit time, as the base file did, until it is written.
            const timespec times[2] = {attributes.mtime, attributes.mtime};
            ::futimens(out.get(), times);
        }
        overlay_.setIdentity(parent, DirEntry::overlayNode(inode.name, node));
    });
    inodes_.setIdentity(ino, Identity::ofNode(node, attributes.type));
    return node;
}

NodeAttributes WritableFilesystem::newNodeAttributes(fuse_req_t req, NodeType type,
                                                     mode_t mode) const {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    NodeAttributes attributes;
    attributes.type = type;
    attributes.permissions = mode & 07777;
    attributes.uid = ctx->uid;
    attributes.gid = ctx->gid;
    attributes.mtime = now();
    attributes.ctime = attributes.mtime;
    return attributes;
}

void WritableFilesystem::touchDirectory(NodeId dir) {
    NodeAttributes attributes = overlay_.attributes(dir);
    attributes.mtime = now();
    attributes.ctime = attributes.mtime;
    overlay_.setAttributes(dir, attributes);
}

// --- LiveView

void WritableFilesystem::mutateExclusively(const std::function<void()>& fn) {
    std::exception_ptr failure;
    {
        std::unique_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        try {
            fn();
        } catch (...) {
            failure = std::current_exception();
        }
        try {
            loadBase();
        } catch (const std::exception& e) {
            spdlog::error("overlay {}: re-reading the base after a change: {}",
                          overlay_.directory().string(), e.what());
        }
        inodes_.markAllStale();
        inodes_.setIdentity(FUSE_ROOT_ID, rootIdentity());
    }
    // Outside every lock and on the caller's (non-FUSE) thread: the kernel may call back into
    // us while it drops the entries.
    fuse_session* session = nullptr;
    {
        std::lock_guard lock(sessionMutex_);
        session = session_;
    }
    if (session != nullptr) {
        for (const auto& [parent, name] : inodes_.liveNames()) {
            fuse_lowlevel_notify_inval_entry(session, parent, name.c_str(), name.size());
        }
        for (fuse_ino_t ino : inodes_.liveInodes()) {
            fuse_lowlevel_notify_inval_inode(session, ino, 0, 0);
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
}

void WritableFilesystem::readConsistently(const std::function<void()>& fn) {
    std::shared_lock live(liveMutex_);
    std::lock_guard tree(treeMutex_);
    fn();
}

// --- handlers

void WritableFilesystem::init(fuse_conn_info* conn) {
    conn->max_background = options_.maxBackground;
    conn->congestion_threshold = options_.maxBackground * 3 / 4;
    conn->max_write = options_.maxWrite;
    auto want = [conn](unsigned capability) {
        if ((conn->capable & capability) != 0) {
            conn->want |= capability;
        }
    };
    want(FUSE_CAP_CACHE_SYMLINKS);
    want(FUSE_CAP_SPLICE_WRITE);  // read replies spliced from content fds
    want(FUSE_CAP_SPLICE_READ);   // write payloads spliced from /dev/fuse into content files
    want(FUSE_CAP_PARALLEL_DIROPS);
    want(FUSE_CAP_ASYNC_READ);
    want(FUSE_CAP_ATOMIC_O_TRUNC);  // O_TRUNC reaches open(): a truncated base file is not copied
    // Write-through: the page cache is updated by every write, so nothing to revalidate; no
    // writeback cache (see docs/overlay.md).
    conn->want &= ~(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS |
                    FUSE_CAP_READDIRPLUS_AUTO);
}

void WritableFilesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "lookup", parent, name, [&] {
        std::shared_lock live(liveMutex_);
        const WritableInode dir = resolve(parent);
        if (dir.unlinked) {
            fail(ENOENT);
        }
        if (!dir.identity.isDirectory()) {
            fail(ENOTDIR);
        }
        std::optional<Identity> child = childOf(dir.identity, name);
        if (!child) {
            fuse_entry_param e{};
            e.entry_timeout = options_.negativeTimeout.count();
            fuse_reply_entry(req, &e);
            return;
        }
        replyEntry(req, inodes_.lookup(parent, name, *child));
    });
}

void WritableFilesystem::forget(fuse_ino_t ino, uint64_t nlookup) {
    try {
        inodes_.forget(ino, nlookup);
    } catch (const std::exception& e) {
        spdlog::error("forget inode {}: {}", ino, e.what());
    }
}

void WritableFilesystem::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "getattr", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        const WritableInode inode = resolve(ino);
        struct stat st {};
        if (inode.unlinked && !inode.identity.isBase()) {
            st = attributesOfUnlinked(ino, fi);
            fuse_reply_attr(req, &st, 0);
            return;
        }
        st = attributesOf(ino, inode.identity);
        fuse_reply_attr(req, &st, options_.attrTimeout.count());
    });
}

void WritableFilesystem::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet,
                                 fuse_file_info* fi) {
    guarded(req, "setattr", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        WritableInode inode = resolve(ino);
        if (inode.unlinked && inode.identity.isBase()) {
            fail(ENOENT);
        }
        if ((toSet & FUSE_SET_ATTR_SIZE) != 0) {
            if (inode.identity.isDirectory()) {
                fail(EISDIR);
            }
            const NodeId node = materializeNode(ino, attr->st_size != 0);
            const int result =
                fi != nullptr && HandleTable<OpenFile>::get(fi->fh).overlayContent
                    ? ::ftruncate(HandleTable<OpenFile>::get(fi->fh).fd.get(), attr->st_size)
                    : ::truncate(overlay_.contentPath(node).c_str(), attr->st_size);
            if (result != 0) {
                fail(errno);
            }
            if (!callerMayKeepPrivileges(req)) {
                killPrivileges(req, ino);
            }
        }
        inode = resolve(ino);
        if ((toSet & FUSE_SET_ATTR_MODE) != 0) {
            const mode_t permissions = attr->st_mode & 07777;
            const Identity& id = inode.identity;
            if (id.isBase() && !id.isDirectory() && !id.isSymlink() &&
                (permissions == 0644 || permissions == 0755)) {
                // chmod ±x of an unchanged file: a different Git mode, the same blob.
                const EntryKind kind =
                    permissions == 0755 ? EntryKind::Executable : EntryKind::Regular;
                if (kind != id.baseKind) {
                    const NodeId parent = materializeDirectory(inode.parent);
                    overlay_.setIdentity(parent, DirEntry{inode.name, 0, id.baseId, kind});
                    inodes_.setIdentity(ino, Identity::ofBase(id.baseId, kind));
                }
            } else if (!(id.isBase() && id.isDirectory() && permissions == 0755)) {
                const NodeId node = materializeNode(ino, true);
                NodeAttributes a = overlay_.attributes(node);
                if (a.permissions != permissions) {  // tar and cp -a set what is already there
                    a.permissions = permissions;
                    a.ctime = now();
                    overlay_.setAttributes(node, a);
                    noteSetIdBits(ino, permissions);
                }
            }
        }
        inode = resolve(ino);
        const bool setUid = (toSet & FUSE_SET_ATTR_UID) != 0;
        const bool setGid = (toSet & FUSE_SET_ATTR_GID) != 0;
        // A chown to the owner a base entry already shows (tar or cp -a as root) changes nothing.
        const bool baseOwnerUnchanged = inode.identity.isBase() &&
                                        (!setUid || attr->st_uid == uid_) &&
                                        (!setGid || attr->st_gid == gid_);
        if ((setUid || setGid) && !baseOwnerUnchanged) {
            const NodeId node = materializeNode(ino, true);
            NodeAttributes a = overlay_.attributes(node);
            const uid_t uid = setUid ? attr->st_uid : a.uid;
            const gid_t gid = setGid ? attr->st_gid : a.gid;
            if (uid != a.uid || gid != a.gid) {
                a.uid = uid;
                a.gid = gid;
                a.ctime = now();
                overlay_.setAttributes(node, a);
            }
        }
        // chown(-1, -1) changes no id. Measured on 6.18: the kernel clears set-user-ID, and
        // set-group-ID with group-execute, itself (a setattr of the mode); whatever it leaves
        // (set-group-ID without group-execute, caller not in the group) reaches us as a setattr
        // naming no attribute, on which native clears it too. The only other empty setattr is a
        // write's or truncate's privilege removal (file_remove_privs, sent only when there is
        // something to clear), which wants the same; utimensat with both UTIME_OMIT never leaves
        // the kernel (docs/overlay.md).
        const int attributeBits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                                  FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                                  FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
        const bool chownToNoOne = (toSet & attributeBits) == 0;
        if (setUid || setGid || chownToNoOne) {
            killPrivileges(req, ino);  // whoever the caller is, even to the same owner (native)
        }
        const int timeBits = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                             FUSE_SET_ATTR_MTIME_NOW;
        if ((toSet & timeBits) != 0) {
            const NodeId node = materializeNode(ino, true);
            timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
            if ((toSet & FUSE_SET_ATTR_ATIME_NOW) != 0) {
                times[0] = timespec{0, UTIME_NOW};
            } else if ((toSet & FUSE_SET_ATTR_ATIME) != 0) {
                times[0] = attr->st_atim;
            }
            if ((toSet & FUSE_SET_ATTR_MTIME_NOW) != 0) {
                times[1] = timespec{0, UTIME_NOW};
            } else if ((toSet & FUSE_SET_ATTR_MTIME) != 0) {
                times[1] = attr->st_mtim;
            }
            NodeAttributes a = overlay_.attributes(node);
            if (a.type == NodeType::File) {
                if (::utimensat(AT_FDCWD, overlay_.contentPath(node).c_str(), times, 0) != 0) {
                    fail(errno);
                }
            } else if (times[1].tv_nsec != UTIME_OMIT) {
                a.mtime = times[1].tv_nsec == UTIME_NOW ? now() : times[1];
                a.ctime = now();
                overlay_.setAttributes(node, a);
            }
        }
        inode = resolve(ino);
        struct stat st {};
        if (inode.unlinked && !inode.identity.isBase()) {
            st = attributesOfUnlinked(ino, fi);
            fuse_reply_attr(req, &st, 0);
            return;
        }
        st = attributesOf(ino, inode.identity);
        fuse_reply_attr(req, &st, options_.attrTimeout.count());
    });
}

void WritableFilesystem::readlink(fuse_req_t req, fuse_ino_t ino) {
    guarded(req, "readlink", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        const WritableInode inode = resolve(ino);
        if (!inode.identity.isSymlink()) {
            fail(EINVAL);
        }
        const std::string target =
            inode.identity.isBase()
                ? store_->readBlob(inode.identity.baseId, options_.maxSymlinkBytes)
                : overlay_.attributes(inode.identity.node).symlinkTarget;
        fuse_reply_readlink(req, target.c_str());
    });
}

void WritableFilesystem::createEntry(fuse_req_t req, fuse_ino_t parent, const char* name,
                                     const NodeAttributes& attributes) {
    checkName(name);
    std::shared_lock live(liveMutex_);
    std::lock_guard tree(treeMutex_);
    const NodeId dir = materializeDirectory(parent);
    if (overlay_.find(dir, name)) {
        fail(EEXIST);
    }
    NodeId node = 0;
    overlay_.transaction([&] {
        node = overlay_.createNode(attributes);
        overlay_.put(dir, DirEntry::overlayNode(name, node));
        touchDirectory(dir);
    });
    replyEntry(req, inodes_.lookup(parent, name, Identity::ofNode(node, attributes.type)));
}

void WritableFilesystem::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    guarded(req, "mknod", parent, name, [&] {
        NodeType type = NodeType::File;
        if (S_ISFIFO(mode)) {
            type = NodeType::Fifo;
        } else if (!S_ISREG(mode)) {
            fail(EPERM);  // devices and sockets: nothing a checkout could hold
        }
        createEntry(req, parent, name, newNodeAttributes(req, type, mode));
    });
}

void WritableFilesystem::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    guarded(req, "mkdir", parent, name, [&] {
        createEntry(req, parent, name, newNodeAttributes(req, NodeType::Directory, mode));
    });
}

void WritableFilesystem::symlink(fuse_req_t req, const char* target, fuse_ino_t parent,
                                 const char* name) {
    guarded(req, "symlink", parent, name, [&] {
        if (std::strlen(target) >= options_.maxSymlinkBytes) {
            fail(ENAMETOOLONG);
        }
        NodeAttributes attributes = newNodeAttributes(req, NodeType::Symlink, 0777);
        attributes.symlinkTarget = target;
        createEntry(req, parent, name, attributes);
    });
}

void WritableFilesystem::unlink(fuse_req_t req, fuse_ino_t parent, const char* name,
                                bool directory) {
    guarded(req, directory ? "rmdir" : "unlink", parent, name, [&] {
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        const WritableInode dir = resolve(parent);
        if (dir.unlinked) {
            fail(ENOENT);
        }
        std::optional<Identity> child = childOf(dir.identity, name);
        if (!child) {
            fail(ENOENT);
        }
        if (directory && !child->isDirectory()) {
            fail(ENOTDIR);
        }
        if (!directory && child->isDirectory()) {
            fail(EISDIR);
        }
        if (directory && !directoryEmpty(*child)) {
            fail(ENOTEMPTY);
        }
        const NodeId dirNode = materializeDirectory(parent);
        overlay_.transaction([&] {
            overlay_.remove(dirNode, name);
            touchDirectory(dirNode);
        });
        inodes_.unlinkChild(parent, name);
        fuse_reply_err(req, 0);
    });
}

void WritableFilesystem::rename(fuse_req_t req, fuse_ino_t parent, const char* name,
                                fuse_ino_t newParent, const char* newName, unsigned flags) {
    guarded(req, "rename", parent, name, [&] {
        checkName(newName);
        if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
            ((flags & RENAME_NOREPLACE) != 0 && (flags & RENAME_EXCHANGE) != 0)) {
            fail(EINVAL);  // RENAME_WHITEOUT is for overlayfs, not for us
        }
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        const WritableInode from = resolve(parent);
        const WritableInode to = resolve(newParent);
        if (from.unlinked || to.unlinked) {
            fail(ENOENT);
        }
        if (!to.identity.isDirectory()) {
            fail(ENOTDIR);
        }
        std::optional<Identity> source = childOf(from.identity, name);
        if (!source) {
            fail(ENOENT);
        }
        std::optional<Identity> target = childOf(to.identity, newName);
        const bool exchange = (flags & RENAME_EXCHANGE) != 0;
        if (exchange && !target) {
            fail(ENOENT);
        }
        if (parent == newParent && std::strcmp(name, newName) == 0) {
            fuse_reply_err(req, 0);
            return;
        }
        if (target && (flags & RENAME_NOREPLACE) != 0) {
            fail(EEXIST);
        }
        // A directory cannot move below itself (nor, exchanged, the other one below it).
        auto movesIntoItself = [&](fuse_ino_t dirParent, const char* dirName, fuse_ino_t dest) {
            const std::optional<fuse_ino_t> ino = inodes_.peekChild(dirParent, dirName);
            return ino && inodes_.isAncestorOrSelf(*ino, dest);
        };
        if (source->isDirectory() && movesIntoItself(parent, name, newParent)) {
            fail(EINVAL);
        }
        if (exchange && target->isDirectory() && movesIntoItself(newParent, newName, parent)) {
            fail(EINVAL);
        }
        if (target && !exchange) {
            if (source->isDirectory() && !target->isDirectory()) {
                fail(ENOTDIR);
            }
            if (!source->isDirectory() && target->isDirectory()) {
                fail(EISDIR);
            }
            if (target->isDirectory() && !directoryEmpty(*target)) {
                fail(ENOTEMPTY);
            }
        }
        const NodeId fromNode = materializeDirectory(parent);
        const NodeId toNode = materializeDirectory(newParent);
        unsigned overlayFlags = 0;
        overlayFlags |= (flags & RENAME_NOREPLACE) != 0 ? overlay::kRenameNoReplace : 0U;
        overlayFlags |= exchange ? overlay::kRenameExchange : 0U;
        overlay_.transaction([&] {
            overlay_.rename(fromNode, name, toNode, newName, overlayFlags);
            touchDirectory(fromNode);
            if (toNode != fromNode) {
                touchDirectory(toNode);
            }
        });
        if (exchange) {
            inodes_.exchange(parent, name, newParent, newName);
        } else {
            inodes_.rename(parent, name, newParent, newName);
        }
        fuse_reply_err(req, 0);
    });
}

void WritableFilesystem::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                                fuse_file_info* fi) {
    guarded(req, "create", parent, name, [&] {
        checkName(name);
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        const NodeId dir = materializeDirectory(parent);
        if (overlay_.find(dir, name)) {
            fail(EEXIST);  // the kernel's O_EXCL check raced with another creator
        }
        const NodeAttributes attributes = newNodeAttributes(req, NodeType::File, mode);
        NodeId node = 0;
        overlay_.transaction([&] {
            node = overlay_.createNode(attributes);
            overlay_.put(dir, DirEntry::overlayNode(name, node));
            touchDirectory(dir);
        });
        auto file = std::make_unique<OpenFile>();
        file->fd = openContent(overlay_.contentPath(node), O_RDWR | (fi->flags & O_APPEND));
        file->overlayContent = true;
        file->hasSetIdBits = hasSetIdBits(attributes.permissions);
        const WritableInode inode =
            inodes_.lookup(parent, name, Identity::ofNode(node, attributes.type));
        fuse_entry_param e{};
        try {
            e = entryOf(inode.ino, inode.identity);
        } catch (...) {
            inodes_.forget(inode.ino, 1);
            throw;
        }
        fi->fh = addOpenFile(inode.ino, std::move(file));
        fi->keep_cache = 1;
        fi->noflush = 1;
        if (fuse_reply_create(req, &e, fi) != 0) {
            inodes_.forget(inode.ino, 1);
            release(nullptr, fi);
        }
    });
}

void WritableFilesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "open", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0;
        bool killed = false;
        auto file = std::make_unique<OpenFile>();
        WritableInode inode = resolve(ino);
        if (inode.identity.isDirectory()) {
            fail(EISDIR);
        }
        if (inode.unlinked && inode.identity.isBase()) {
            fail(ENOENT);
        }
        if (writing) {
            std::lock_guard tree(treeMutex_);
            const bool truncate = (fi->flags & O_TRUNC) != 0;
            const NodeId node = materializeNode(ino, !truncate);
            const int access = (fi->flags & O_ACCMODE) == O_RDONLY ? O_RDONLY : O_RDWR;
            file->fd = openContent(overlay_.contentPath(node), access | (fi->flags & O_APPEND));
            if (truncate && ::ftruncate(file->fd.get(), 0) != 0) {
                fail(errno);
            }
            if (truncate && !callerMayKeepPrivileges(req)) {
                killed = killPrivileges(req, ino);
            }
            file->overlayContent = true;
            file->hasSetIdBits = hasSetIdBits(overlay_.attributes(node).permissions);
        } else if (inode.identity.isBase()) {
            file->fd = store_->openBlob(inode.identity.baseId);
        } else {
            file->fd = openContent(overlay_.contentPath(inode.identity.node), O_RDONLY);
            file->overlayContent = true;
        }
        fi->fh = addOpenFile(ino, std::move(file));
        // Every write goes through this mount and updates the kernel's page cache, so cached
        // pages stay right across opens; changes behind the mount invalidate them explicitly.
        fi->keep_cache = 1;
        fi->noflush = 1;
        if (fuse_reply_open(req, fi) != 0) {
            release(nullptr, fi);
        }
        if (killed) {
            invalidateAttributes(ino);
        }
    });
}

void WritableFilesystem::read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
    const OpenFile& file = HandleTable<OpenFile>::get(fi->fh);
    replyReadFromFd(req, file.fd.get(), size, off);
}

void WritableFilesystem::writeBuf(fuse_req_t req, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
    const OpenFile& file = HandleTable<OpenFile>::get(fi->fh);
    if (!file.overlayContent) {
        fuse_reply_err(req, EBADF);
        return;
    }
    if (file.hasSetIdBits.load(std::memory_order_relaxed) && !callerMayKeepPrivileges(req)) {
        // Rare (a setuid or setgid file written by an ordinary user): the bits go before the
        // bytes land, as native, so no reader sees new bytes under the old privileges.
        bool killed = false;
        bool failed = true;
        guarded(req, "write", file.ino, nullptr, [&] {
            std::shared_lock live(liveMutex_);
            std::lock_guard tree(treeMutex_);
            killed = killPrivileges(req, file.ino);
            failed = false;
        });
        if (failed) {
            return;  // guarded replied
        }
        if (killed) {
            invalidateAttributes(file.ino);
        }
    }
    fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = file.fd.get();
    out.buf[0].pos = off;
    const ssize_t written = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
    if (written < 0) {
        fuse_reply_err(req, static_cast<int>(-written));
    } else {
        fuse_reply_write(req, static_cast<size_t>(written));
    }
}

void WritableFilesystem::fallocate(fuse_req_t req, int mode, off_t offset, off_t length,
                                   fuse_file_info* fi) {
    const OpenFile& file = HandleTable<OpenFile>::get(fi->fh);
    if (!file.overlayContent) {
        fuse_reply_err(req, EBADF);
        return;
    }
    fuse_reply_err(req, ::fallocate(file.fd.get(), mode, offset, length) != 0 ? errno : 0);
}

void WritableFilesystem::fsync(fuse_req_t req, bool dataOnly, fuse_file_info* fi) {
    guarded(req, "fsync", 0, nullptr, [&] {
        const OpenFile& file = HandleTable<OpenFile>::get(fi->fh);
        if (file.overlayContent &&
            (dataOnly ? ::fdatasync(file.fd.get()) : ::fsync(file.fd.get())) != 0) {
            fail(errno);
        }
        overlay_.sync();
        fuse_reply_err(req, 0);
    });
}

void WritableFilesystem::fsyncdir(fuse_req_t req) {
    guarded(req, "fsyncdir", 0, nullptr, [&] {
        overlay_.sync();
        fuse_reply_err(req, 0);
    });
}

void WritableFilesystem::release(fuse_req_t req, fuse_file_info* fi) {
    {
        const OpenFile* file = &HandleTable<OpenFile>::get(fi->fh);
        std::lock_guard lock(openMutex_);
        auto [first, last] = openByInode_.equal_range(file->ino);
        for (auto it = first; it != last; ++it) {
            if (it->second == file) {
                openByInode_.erase(it);
                break;
            }
        }
    }
    openFiles_.remove(fi->fh);
    if (req != nullptr) {
        fuse_reply_err(req, 0);
    }
}

void WritableFilesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "opendir", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        const WritableInode inode = resolve(ino);
        if (inode.unlinked) {
            fail(ENOENT);
        }
        if (!inode.identity.isDirectory()) {
            fail(ENOTDIR);
        }
        auto dir = std::make_unique<OpenDirectory>();
        dir->parent = inode.parent;
        dir->entries = listOf(inode.identity);
        fi->fh = openDirectories_.add(std::move(dir));
        if (fuse_reply_open(req, fi) != 0) {
            openDirectories_.remove(fi->fh);
        }
    });
}

void WritableFilesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                                 fuse_file_info* fi) {
    guarded(req, "readdir", ino, nullptr, [&] {
        OpenDirectory& dir = HandleTable<OpenDirectory>::get(fi->fh);
        // Offsets: 0 ".", 1 "..", 2 + i the listing's i-th entry, each record carrying the
        // offset of the next. The listing is the one taken at opendir (POSIX allows a directory
        // stream to miss changes made after it was opened).
        const auto total = static_cast<off_t>(dir.entries.size() + 2);
        std::vector<char> buffer(size);
        size_t used = 0;
        for (off_t i = std::max<off_t>(off, 0); i < total; ++i) {
            const char* name = nullptr;
            struct stat st {};
            if (i < 2) {
                name = i == 0 ? "." : "..";
                st.st_ino = i == 0 ? ino : dir.parent;
                st.st_mode = S_IFDIR;
            } else {
                const Listed& entry = dir.entries[static_cast<size_t>(i - 2)];
                if (entry.name.empty() || entry.name.size() > kFuseNameMax) {
                    continue;
                }
                name = entry.name.c_str();
                st.st_ino = inodes_.peekChild(ino, entry.name).value_or(kUnknownIno);
                // Overlay entries' types: the listing knows them; base ones from the Git mode.
                st.st_mode = typeBits(entry.identity);
            }
            const size_t needed =
                fuse_add_direntry(req, buffer.data() + used, size - used, name, &st, i + 1);
            if (needed > size - used) {
                break;
            }
            used += needed;
        }
        fuse_reply_buf(req, buffer.data(), used);
    });
}

void WritableFilesystem::releasedir(fuse_req_t req, fuse_file_info* fi) {
    openDirectories_.remove(fi->fh);
    fuse_reply_err(req, 0);
}

void WritableFilesystem::statfs(fuse_req_t req) {
    guarded(req, "statfs", 0, nullptr, [&] {
        // The overlay has no bound of its own: its disk's free space is what writes can use.
        struct statvfs st {};
        if (::statvfs(overlay_.directory().c_str(), &st) != 0) {
            fail(errno);
        }
        st.f_namemax = NAME_MAX;
        st.f_files = std::max<fsfilcnt_t>(st.f_files, inodes_.size());
        fuse_reply_statfs(req, &st);
    });
}

// --- extended attributes

std::optional<WritableFilesystem::XattrOwner> WritableFilesystem::xattrOwnerOf(
    const WritableInode& inode) {
    if (inode.unlinked) {
        return std::nullopt;
    }
    if (inode.ino == FUSE_ROOT_ID) {
        if (inode.identity.isBase()) {
            return std::nullopt;
        }
        return XattrOwner{overlay::kRootNode, ""};
    }
    const WritableInode parent = resolve(inode.parent);
    if (parent.unlinked || parent.identity.isBase()) {
        return std::nullopt;
    }
    return XattrOwner{parent.identity.node, inode.name};
}

WritableFilesystem::XattrOwner WritableFilesystem::materializeXattrOwner(fuse_ino_t ino) {
    const WritableInode inode = resolve(ino);
    if (inode.unlinked) {
        fail(ENOENT);  // an open file whose name is gone: nothing left to hold them
    }
    if (ino == FUSE_ROOT_ID) {
        return XattrOwner{materializeDirectory(FUSE_ROOT_ID), ""};
    }
    return XattrOwner{materializeDirectory(inode.parent), inode.name};
}

void WritableFilesystem::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    // The kernel asks for security.capability before every write (to drop it if set): answered
    // here, with no lock and no database read.
    if (!isUserXattr(name)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    guarded(req, "getxattr", ino, name, [&] {
        if (std::string_view(name) == kUserXattrPrefix) {
            fail(EINVAL);
        }
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);  // no rename moves the entry while we read it
        const std::optional<XattrOwner> owner = xattrOwnerOf(resolve(ino));
        const std::optional<std::string> value =
            owner ? overlay_.xattr(owner->dir, owner->entry, name) : std::nullopt;
        if (!value) {
            fail(ENODATA);
        }
        replySized(req, *value, size);
    });
}

void WritableFilesystem::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    guarded(req, "listxattr", ino, nullptr, [&] {
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        std::string list;
        if (const std::optional<XattrOwner> owner = xattrOwnerOf(resolve(ino))) {
            for (const std::string& name : overlay_.xattrNames(owner->dir, owner->entry)) {
                list += name;
                list += '\0';
            }
        }
        replySized(req, list, size);
    });
}

void WritableFilesystem::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                                  const char* value, size_t size, int flags) {
    guarded(req, "setxattr", ino, name, [&] {
        if (!isUserXattr(name)) {
            fail(EOPNOTSUPP);
        }
        if (std::string_view(name) == kUserXattrPrefix ||
            (flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0 ||
            (flags & (XATTR_CREATE | XATTR_REPLACE)) == (XATTR_CREATE | XATTR_REPLACE)) {
            fail(EINVAL);
        }
        overlay::XattrMode mode = overlay::XattrMode::Any;
        if ((flags & XATTR_CREATE) != 0) {
            mode = overlay::XattrMode::Create;
        } else if ((flags & XATTR_REPLACE) != 0) {
            mode = overlay::XattrMode::Replace;
        }
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        if (mode == overlay::XattrMode::Replace && !xattrOwnerOf(resolve(ino))) {
            fail(ENODATA);  // nothing to replace: do not materialize for nothing
        }
        const XattrOwner owner = materializeXattrOwner(ino);
        overlay_.setXattr(owner.dir, owner.entry, name, std::string_view(value, size), mode);
        fuse_reply_err(req, 0);
    });
}

void WritableFilesystem::removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    if (!isUserXattr(name)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    guarded(req, "removexattr", ino, name, [&] {
        if (std::string_view(name) == kUserXattrPrefix) {
            fail(EINVAL);
        }
        std::shared_lock live(liveMutex_);
        std::lock_guard tree(treeMutex_);
        const std::optional<XattrOwner> owner = xattrOwnerOf(resolve(ino));
        if (!owner || !overlay_.removeXattr(owner->dir, owner->entry, name)) {
            fail(ENODATA);
        }
        fuse_reply_err(req, 0);
    });
}

const fuse_lowlevel_ops& WritableFilesystem::operations() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.init = [](void* userdata, fuse_conn_info* conn) {
            static_cast<WritableFilesystem*>(userdata)->init(conn);
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
        o.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
            self(req).getattr(req, ino, fi);
        };
        o.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet,
                       fuse_file_info* fi) { self(req).setattr(req, ino, attr, toSet, fi); };
        o.readlink = [](fuse_req_t req, fuse_ino_t ino) { self(req).readlink(req, ino); };
        o.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
            self(req).mknod(req, parent, name, mode);
        };
        o.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
            self(req).mkdir(req, parent, name, mode);
        };
        o.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
            self(req).unlink(req, parent, name, false);
        };
        o.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
            self(req).unlink(req, parent, name, true);
        };
        o.symlink = [](fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
            self(req).symlink(req, target, parent, name);
        };
        o.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent,
                      const char* newName, unsigned flags) {
            self(req).rename(req, parent, name, newParent, newName, flags);
        };
        // One name per node (see overlay/OverlayStore.hpp): EPERM, as EdenFS answers.
        o.link = [](fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
            fuse_reply_err(req, EPERM);
        };
        o.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
            self(req).open(req, ino, fi);
        };
        o.read = [](fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
            self(req).read(req, size, off, fi);
        };
        o.write_buf = [](fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off,
                         fuse_file_info* fi) { self(req).writeBuf(req, in, off, fi); };
        // Writes are write-through (no writeback cache): nothing to flush at close. ENOSYS makes
        // the kernel stop sending flush, one round trip less per close.
        o.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, ENOSYS); };
        o.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
            self(req).release(req, fi);
        };
        o.fsync = [](fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
            self(req).fsync(req, datasync != 0, fi);
        };
        o.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
            self(req).opendir(req, ino, fi);
        };
        o.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
            self(req).readdir(req, ino, size, off, fi);
        };
        o.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
            self(req).releasedir(req, fi);
        };
        o.fsyncdir = [](fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
            self(req).fsyncdir(req);
        };
        o.statfs = [](fuse_req_t req, fuse_ino_t) { self(req).statfs(req); };
        o.getxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
            self(req).getxattr(req, ino, name, size);
        };
        o.listxattr = [](fuse_req_t req, fuse_ino_t ino, size_t size) {
            self(req).listxattr(req, ino, size);
        };
        o.setxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                        size_t size,
                        int flags) { self(req).setxattr(req, ino, name, value, size, flags); };
        o.removexattr = [](fuse_req_t req, fuse_ino_t ino, const char* name) {
            self(req).removexattr(req, ino, name);
        };
        o.create = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                      fuse_file_info* fi) { self(req).create(req, parent, name, mode, fi); };
        o.fallocate = [](fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                         fuse_file_info* fi) {
            self(req).fallocate(req, mode, offset, length, fi);
        };
        return o;
    }();
    return ops;
}

}  // namespace megafuse::fs
