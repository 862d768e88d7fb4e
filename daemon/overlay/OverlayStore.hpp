// OverlayStore: the persistent copy-on-write layer of one writable mount — what changed relative
// to the base revision, and nothing else. Knows Git ids and tree entries; knows nothing of FUSE,
// D-Bus or how a commit is made.
//
// The model is EdenFS's. A directory that has changed is *materialized*: its full entry list is
// kept here, each entry either an untouched base object (a blob or tree by id, possibly moved here
// by a rename) or a node of the overlay (a file, directory, symlink or fifo of its own). A
// directory that has not changed is not stored at all: it is read from the base tree. So
// renaming or deleting a whole base directory is one entry update (O(1), never a copy), and
// walking the changes visits materialized directories only: O(changes), not O(repository).
//
// On disk, in a folder of its own (<state_dir>/overlays/<mount name>/):
//   overlay.db   SQLite (WAL): meta (base commit), nodes, entries, xattrs. Every mutating
//                method is one transaction, so after a crash the overlay reopens as of the last
//                one that ended.
//   files/xx/N   the bytes of file node N, written in place through ordinary fds (writes never
//                touch the database; a file's size and mtime are its content file's).
//
// Hard links are not supported (a node has exactly one entry naming it; link() gets EPERM, as in
// EdenFS), which keeps rename and delete local to two directories.
//
// Thread-safety: every method may be called from any thread; one connection behind one mutex.
// transaction() nests: calls made by fn join the outer transaction.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "store/ObjectId.hpp"
#include "store/Tree.hpp"

namespace megafuse::overlay {

// A failed overlay operation; errnoValue() is what a FUSE handler replies (ENOENT, EEXIST,
// ENOTEMPTY, ENOTDIR, EISDIR, EIO for a broken database…), what() names the path or node.
class OverlayError : public std::runtime_error {
public:
    OverlayError(int errnoValue, const std::string& what)
        : std::runtime_error(what), errno_(errnoValue) {}
    [[nodiscard]] int errnoValue() const { return errno_; }

private:
    int errno_;
};

using NodeId = uint64_t;
// The root directory's node, once the root is materialized (the first change anywhere).
inline constexpr NodeId kRootNode = 1;

enum class NodeType : uint8_t { Directory, File, Symlink, Fifo };

// What the overlay keeps for a node of its own. Files take size, atime and mtime from their
// content file (so write() never touches the database); ctime is kept here for every type.
struct NodeAttributes {
    NodeType type = NodeType::File;
    mode_t permissions = 0644;  // the 07777 bits only; the type comes from NodeType
    uid_t uid = 0;
    gid_t gid = 0;
    timespec mtime{};  // directories, symlinks, fifos (files: the content file's)
    timespec ctime{};
    std::string symlinkTarget;  // Symlink only
};

// One name in a materialized directory: either a base object or an overlay node.
struct DirEntry {
    std::string name;
    NodeId node = 0;         // != 0: an overlay node (its type and mode live with the node)
    store::ObjectId baseId;  // node == 0: an untouched blob or tree of the base...
    store::EntryKind baseKind = store::EntryKind::Regular;  // ...with its Git mode

    [[nodiscard]] bool isBase() const { return node == 0; }
    static DirEntry base(const store::TreeEntry& entry) {
        return DirEntry{entry.name, 0, entry.id, entry.kind};
    }
    static DirEntry overlayNode(std::string name, NodeId node) {
        return DirEntry{std::move(name), node, {}, store::EntryKind::Regular};
    }
};

// Flags of rename(); the same values as renameat2's.
enum RenameFlags : unsigned {
    kRenameNoReplace = 1U << 0U,  // RENAME_NOREPLACE: EEXIST when the target exists
    kRenameExchange = 1U << 1U,   // RENAME_EXCHANGE: swap two existing entries
};

// setXattr's XATTR_CREATE / XATTR_REPLACE, as <sys/xattr.h> spells them.
enum class XattrMode : uint8_t {
    Any,      // create or replace
    Create,   // EEXIST when the name is set
    Replace,  // ENODATA when it is not
};

// Bounds of the extended attributes of one entry (YAML xattr_*_max; docs/overlay.md, "Bounds").
// Breaking one: ERANGE for a name, E2BIG for a value, ENOSPC for the totals — what a native
// filesystem answers.
struct XattrLimits {
    size_t maxNameBytes = 255;        // XATTR_NAME_MAX, the full name ("user.…")
    size_t maxValueBytes = 64 << 10;  // XATTR_SIZE_MAX
    // Names + values of one entry: what the overlay keeps per file at most.
    size_t maxBytesPerEntry = 256 << 10;
    // Names alone (each with its NUL), so a full list fits listxattr's XATTR_LIST_MAX.
    size_t maxListBytes = 64 << 10;
};

struct OverlayStats {
    uint64_t nodes = 0;  // overlay nodes (files, directories, symlinks, fifos)
    uint64_t materializedDirectories = 0;
    uint64_t contentBytes = 0;  // bytes in files/ (sum of content file sizes)
};

class OverlayStore {
public:
    // Opens the overlay in dir, creating it (and dir) when absent. Recovery after a crash:
    // content files with no node are deleted, nodes no entry names are deleted, a file node whose
    // content file is missing gets an empty one. Throws OverlayError (EIO) naming the file when
    // the database cannot be opened or is not an overlay.
    static std::unique_ptr<OverlayStore> open(const std::filesystem::path& dir,
                                              const XattrLimits& xattrLimits = {});

    virtual ~OverlayStore() = default;

    // The commit the overlay applies to; nullopt until set (a fresh overlay). A mount that finds
    // one uses it, not its configured revision, until a commit/checkout moves it (like HEAD of
    // a worktree).
    [[nodiscard]] virtual std::optional<store::ObjectId> baseCommit() const = 0;
    virtual void setBaseCommit(const store::ObjectId& commit) = 0;

    // True when nothing has changed: the root is not materialized.
    [[nodiscard]] virtual bool empty() const = 0;
    // Materializes the root from the base root tree's entries (no-op when it already is).
    virtual void materializeRoot(const std::vector<store::TreeEntry>& baseEntries,
                                 const NodeAttributes& attributes) = 0;

    // --- directories (dir must be a materialized directory node; otherwise ENOTDIR/ENOENT)
    // Entries in byte order of name.
    [[nodiscard]] virtual std::vector<DirEntry> list(NodeId dir) const = 0;
    [[nodiscard]] virtual std::optional<DirEntry> find(NodeId dir, std::string_view name) const = 0;
    [[nodiscard]] virtual size_t entryCount(NodeId dir) const = 0;
    // Adds or replaces name in dir: whatever name showed before is gone, its extended attributes
    // with it (a reset, a checkout taking the new base). Replacing (or removing) an entry that
    // names an overlay node deletes that node — its content file, and for a directory everything
    // below it.
    virtual void put(NodeId dir, const DirEntry& entry) = 0;
    // name in dir shows entry from now on, and it is still the same file: a base file copied up,
    // a base directory materialized, a base file's new Git mode. Its extended attributes stay.
    // ENOENT when name is absent.
    virtual void setIdentity(NodeId dir, const DirEntry& entry) = 0;
    // Removes name (and its extended attributes); false when it was absent.
    virtual bool remove(NodeId dir, std::string_view name) = 0;
    // Moves one entry (a base object or a node, whole directories in O(1)) with its extended
    // attributes, replacing the target entry unless kRenameNoReplace (EEXIST); kRenameExchange
    // swaps two existing entries (ENOENT when either is missing). The caller checks POSIX rules
    // that need types (EISDIR, ENOTDIR, ENOTEMPTY, moving a directory into itself).
    virtual void rename(NodeId fromDir, std::string_view from, NodeId toDir, std::string_view to,
                        unsigned flags) = 0;

    // --- nodes
    // A new node named by no entry yet (put() it in the same transaction()). A File gets an empty
    // content file; a Directory starts with baseEntries (empty for mkdir; a base tree's entries
    // when materializing it).
    virtual NodeId createNode(const NodeAttributes& attributes,
                              const std::vector<store::TreeEntry>& baseEntries = {}) = 0;
    [[nodiscard]] virtual NodeAttributes attributes(NodeId node) const = 0;
    virtual void setAttributes(NodeId node, const NodeAttributes& attributes) = 0;
    // The bytes of a File node. Open it with O_RDWR|O_CLOEXEC while a file handle needs it,
    // never one fd per inode.
    [[nodiscard]] virtual std::filesystem::path contentPath(NodeId file) const = 0;
    // Makes every write to content files and every committed transaction durable (fsync of the
    // content file is the caller's; this syncs the database: fsync/fsyncdir of the mount).
    virtual void sync() = 0;

    // --- extended attributes
    // They belong to an entry, (dir, name) — the root's are (kRootNode, "") — so a base file
    // carries them without being copied up, and they follow renames. Any namespace can be stored;
    // which ones a mount offers is the filesystem's choice. dir must be a materialized directory
    // and name one of its entries (ENOENT otherwise).
    [[nodiscard]] virtual std::optional<std::string> xattr(NodeId dir, std::string_view entry,
                                                           std::string_view name) const = 0;
    // Names in byte order.
    [[nodiscard]] virtual std::vector<std::string> xattrNames(NodeId dir,
                                                              std::string_view entry) const = 0;
    // Bounded by the XattrLimits given to open(): ERANGE, E2BIG, ENOSPC; EEXIST/ENODATA by mode.
    virtual void setXattr(NodeId dir, std::string_view entry, std::string_view name,
                          std::string_view value, XattrMode mode) = 0;
    // False when the name was not set.
    virtual bool removeXattr(NodeId dir, std::string_view entry, std::string_view name) = 0;

    // Runs fn as one transaction (rolled back when fn throws, the exception passed on).
    virtual void transaction(const std::function<void()>& fn) = 0;

    // Forgets every node and entry: the overlay is empty again (reset of everything, or after a
    // commit moved the base). The base commit is kept.
    virtual void clear() = 0;

    [[nodiscard]] virtual OverlayStats stats() const = 0;
    [[nodiscard]] virtual const std::filesystem::path& directory() const = 0;
    // Why every change fails now — the folder was deleted or replaced under the mount — or
    // nullopt. One stat, no lock: polled by the service for the mount's LastError without
    // waiting behind a transaction, and without waiting for the next change to notice.
    [[nodiscard]] virtual std::optional<std::string> fault() const = 0;
};

// Git mode → the overlay's type and permission bits (100755 → File 0755, 120000 → Symlink…).
NodeAttributes attributesOfBaseKind(store::EntryKind kind);

}  // namespace megafuse::overlay
