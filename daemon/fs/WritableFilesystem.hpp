// WritableFilesystem: the FUSE low-level operations of a writable mount — the base tree of one
// revision with an OverlayStore on top. Unchanged files are served from the object store exactly
// as the read-only Filesystem serves them; the first write copies a file up into the overlay.
// Knows the ObjectStore, the OverlayStore and the kernel's inode protocol; nothing of mounting,
// D-Bus or the change set (which reaches it only through overlay::LiveView).
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/HandleTable.hpp"
#include "fs/WritableInodeTable.hpp"
#include "overlay/LiveView.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::fs {

struct WritableFsOptions {
    // Every change goes through this filesystem, so the kernel may keep what it learnt from us
    // for long; changes behind its back (LiveView::mutateExclusively) invalidate explicitly.
    std::chrono::duration<double> entryTimeout{3600.0};
    std::chrono::duration<double> attrTimeout{3600.0};
    // Negative answers are not cached: a reset or checkout may bring back any name, and the
    // kernel offers no way to drop negative entries we do not know of.
    std::chrono::duration<double> negativeTimeout{0.0};
    unsigned maxBackground = 64;
    // Largest write request (the kernel splits bigger writes); 1 MiB, libfuse's maximum.
    unsigned maxWrite = 1U << 20U;
    size_t maxSymlinkBytes = 4096;
};

// Threads: FUSE workers call the handlers concurrently. Locks, in order:
//   liveMutex_ (shared by handlers that touch the overlay, exclusive in mutateExclusively)
//   → treeMutex_ (every handler that changes names or attributes, and readConsistently)
//   → the inode table's and the overlay's own leaf locks.
// Lookups, getattr and readdir take no treeMutex_: the kernel already serializes them against
// changes of the same directory (its i_rwsem), and identities are updated in single steps.
class WritableFilesystem final : public overlay::LiveView {
public:
    // subPath: the mount's folder in the repository ("" = root); the base is the overlay's base
    // commit's tree at subPath (the overlay must have a base commit).
    WritableFilesystem(std::shared_ptr<store::ObjectStore> store, overlay::OverlayStore& overlay,
                       std::string subPath, WritableFsOptions options);
    WritableFilesystem(const WritableFilesystem&) = delete;
    WritableFilesystem& operator=(const WritableFilesystem&) = delete;
    ~WritableFilesystem() override;

    static const fuse_lowlevel_ops& operations();

    // The session to send invalidations to (nullptr: none; call before the session ends).
    void attachSession(fuse_session* session);

    // LiveView
    void mutateExclusively(const std::function<void()>& fn) override;
    void readConsistently(const std::function<void()>& fn) override;

    [[nodiscard]] const WritableInodeTable& inodes() const { return inodes_; }
    [[nodiscard]] size_t openHandles() const { return openFiles_.size() + openDirectories_.size(); }

    // Handlers; each replies exactly once and never throws.
    void init(fuse_conn_info* conn);
    void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
    void forget(fuse_ino_t ino, uint64_t nlookup);
    void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet, fuse_file_info* fi);
    void readlink(fuse_req_t req, fuse_ino_t ino);
    void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
    void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
    void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
    void unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory);
    void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent,
                const char* newName, unsigned flags);
    void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                fuse_file_info* fi);
    void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
    // Writes arrive as a buffer libfuse may have spliced from /dev/fuse: copied to the content
    // file with fuse_buf_copy (splice when it can, no pass through this process's memory).
    void writeBuf(fuse_req_t req, fuse_bufvec* in, off_t off, fuse_file_info* fi);
    void fallocate(fuse_req_t req, int mode, off_t offset, off_t length, fuse_file_info* fi);
    void fsync(fuse_req_t req, bool dataOnly, fuse_file_info* fi);
    void fsyncdir(fuse_req_t req);
    // req nullptr: a handle whose open reply failed (nothing to reply to).
    void release(fuse_req_t req, fuse_file_info* fi);
    void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
    void releasedir(fuse_req_t req, fuse_file_info* fi);
    void statfs(fuse_req_t req);
    // Extended attributes: user.* only, kept in the overlay with the entry (docs/overlay.md).
    void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
    void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
    void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                  int flags);
    void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

private:
    struct OpenFile;
    struct OpenDirectory;
    struct Listed {
        std::string name;
        Identity identity;
    };
    // Whose extended attributes an inode shows in the overlay: its entry, or the root's.
    struct XattrOwner {
        overlay::NodeId dir = 0;
        std::string entry;
    };

    template <typename Fn>
    void guarded(fuse_req_t req, const char* operation, fuse_ino_t ino, const char* name,
                 Fn&& handler) noexcept;
    [[nodiscard]] std::string describe(fuse_ino_t ino) const;

    // Reads the base (overlay's base commit → tree at subPath, commit time).
    void loadBase();
    [[nodiscard]] Identity rootIdentity() const;
    // What ino shows now, re-resolving it after a change behind the mount; throws ENOENT for
    // an inode that no longer exists, keeping unlinked inodes (open files) as they were.
    WritableInode resolve(fuse_ino_t ino);
    [[nodiscard]] std::optional<Identity> childOf(const Identity& dir, std::string_view name);
    [[nodiscard]] std::vector<Listed> listOf(const Identity& dir);
    [[nodiscard]] bool directoryEmpty(const Identity& dir);
    [[nodiscard]] struct stat attributesOf(fuse_ino_t ino, const Identity& identity);
    [[nodiscard]] fuse_entry_param entryOf(fuse_ino_t ino, const Identity& identity);
    void replyEntry(fuse_req_t req, const WritableInode& inode);
    // Attributes of an inode whose name is gone but whose file is still open (unlink of an open
    // file): from the fd of fi or of any handle open on it; ENOENT when there is none.
    [[nodiscard]] struct stat attributesOfUnlinked(fuse_ino_t ino, fuse_file_info* fi);
    uint64_t addOpenFile(fuse_ino_t ino, std::unique_ptr<OpenFile> file);

    // Copy-on-write. Caller holds treeMutex_.
    overlay::NodeId materializeDirectory(fuse_ino_t ino);
    // The overlay node of a file, symlink or fifo, copying a base file's bytes unless the caller
    // is about to truncate them away.
    overlay::NodeId materializeNode(fuse_ino_t ino, bool keepContent);
    [[nodiscard]] overlay::NodeAttributes newNodeAttributes(fuse_req_t req, overlay::NodeType type,
                                                            mode_t mode) const;
    // The name's parent was changed: its mtime and ctime are now (in the caller's transaction).
    void touchDirectory(overlay::NodeId dir);
    // The owner of ino's extended attributes; nullopt when it can have none yet (its directory
    // is not materialized, or its name is gone).
    std::optional<XattrOwner> xattrOwnerOf(const WritableInode& inode);
    // The same, materializing its directory (never its content) so it can have some. Caller
    // holds treeMutex_.
    XattrOwner materializeXattrOwner(fuse_ino_t ino);
    // Set-user-ID and set-group-ID: HANDLE_KILLPRIV makes clearing them on write, truncate and
    // chown our job. Clears what req's caller must not keep of ino's (an overlay file's; base
    // files have none); true when it changed them. Caller holds treeMutex_.
    bool killPrivileges(fuse_req_t req, fuse_ino_t ino);
    // Tells ino's open handles whether its permissions now hold set-ID bits (checked per write).
    void noteSetIdBits(fuse_ino_t ino, mode_t permissions);
    // Drops the kernel's cached attributes of ino (after a change a reply did not carry).
    void invalidateAttributes(fuse_ino_t ino);
    // mknod/mkdir/symlink: a new node named name in parent, replied as an entry.
    void createEntry(fuse_req_t req, fuse_ino_t parent, const char* name,
                     const overlay::NodeAttributes& attributes);

    std::shared_ptr<store::ObjectStore> store_;
    overlay::OverlayStore& overlay_;
    const std::string subPath_;
    const WritableFsOptions options_;
    const uid_t uid_;
    const gid_t gid_;

    mutable std::shared_mutex liveMutex_;
    std::mutex treeMutex_;
    mutable std::mutex baseMutex_;  // leaf: guards baseRoot_, baseTime_
    store::ObjectId baseRoot_;
    timespec baseTime_{};

    WritableInodeTable inodes_;
    HandleTable<OpenFile> openFiles_;
    HandleTable<OpenDirectory> openDirectories_;

    // Overlay handles per inode, for attributes of unlinked open files. Lock order: leaf.
    std::mutex openMutex_;
    std::unordered_multimap<fuse_ino_t, const OpenFile*> openByInode_;

    std::mutex sessionMutex_;  // leaf
    fuse_session* session_ = nullptr;
};

}  // namespace megafuse::fs
