// OverlayStore on SQLite. One connection in WAL mode behind one recursive mutex; every mutating
// method runs inside transaction(), whose outermost level is BEGIN IMMEDIATE … COMMIT and whose
// nested levels are SAVEPOINTs, so a failing inner step rolls back just itself.
//
// Content files and the database cannot change in one atomic step, so their order is chosen to
// make every crash recoverable at open:
//  - a new file node's content file is created before its row commits: a crash leaves an orphan
//    file (deleted by recovery), never a row without bytes;
//  - a deleted node's content file is unlinked only after its deletion commits: a crash leaves an
//    orphan file again (deleted by recovery);
//  - a rolled-back transaction unlinks the content files it created.
//
// Durability (sync policy): synchronous=NORMAL, so a commit costs no fsync; after a process crash
// (kill -9) every committed transaction is back (the WAL is in the page cache), after a power
// loss those since the last sync() may be lost. sync() fsyncs the WAL and the content folders
// that gained files since the last sync — what fsync/fsyncdir inside a mount call.
#include "overlay/OverlayStore.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/UniqueFd.hpp"

namespace megafuse::overlay {

using store::EntryKind;
using store::ObjectId;
using store::TreeEntry;

NodeAttributes attributesOfBaseKind(EntryKind kind) {
    NodeAttributes attributes;
    switch (kind) {
        case EntryKind::Regular:
            attributes.type = NodeType::File;
            attributes.permissions = 0644;
            break;
        case EntryKind::Executable:
            attributes.type = NodeType::File;
            attributes.permissions = 0755;
            break;
        case EntryKind::Symlink:
            attributes.type = NodeType::Symlink;
            attributes.permissions = 0777;
            break;
        case EntryKind::Directory:
        case EntryKind::Gitlink:
            attributes.type = NodeType::Directory;
            attributes.permissions = 0755;
            break;
    }
    return attributes;
}

namespace {

// nodes.id has no AUTOINCREMENT (its sqlite_sequence row was one more page written by every
// create): the store hands out ids itself, from a counter that never goes back within a process
// (nextNode_), which is what the kernel's cached inodes need. Overlays made before keep their
// AUTOINCREMENT table and sqlite_sequence, which the counter starts above.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    type INTEGER NOT NULL,
    permissions INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    mtime_sec INTEGER NOT NULL, mtime_nsec INTEGER NOT NULL,
    ctime_sec INTEGER NOT NULL, ctime_nsec INTEGER NOT NULL,
    target BLOB);
CREATE TABLE IF NOT EXISTS entries (
    dir INTEGER NOT NULL,
    name BLOB NOT NULL,
    node INTEGER NOT NULL,
    base_id BLOB,
    base_kind INTEGER NOT NULL,
    PRIMARY KEY (dir, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_node ON entries(node) WHERE node != 0;
CREATE TABLE IF NOT EXISTS xattrs (
    dir INTEGER NOT NULL,
    entry BLOB NOT NULL,
    name BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (dir, entry, name)) WITHOUT ROWID;
)sql";

constexpr const char* kFormatVersion = "1";

// A prepared statement, reset on every bind so it can be reused.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            throw OverlayError(
                EIO, std::string("overlay: preparing '") + sql + "': " + sqlite3_errmsg(db));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return *this;
    }
    Statement& bind(int i, int64_t value) {
        sqlite3_bind_int64(stmt_, i, value);
        return *this;
    }
    Statement& bind(int i, std::string_view text) {
        // Never a null pointer: SQLite would bind NULL, not an empty blob.
        sqlite3_bind_blob(stmt_, i, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT);
        return *this;
    }
    Statement& bind(int i, const ObjectId& id) {
        sqlite3_bind_blob(stmt_, i, id.raw().data(), static_cast<int>(id.raw().size()),
                          SQLITE_TRANSIENT);
        return *this;
    }
    // True while a row is available.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        throw OverlayError(EIO, std::string("overlay: ") + sqlite3_errmsg(db_));
    }
    void run() {
        while (step()) {
        }
    }
    [[nodiscard]] int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    [[nodiscard]] std::string text(int column) const {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
        return data == nullptr
                   ? std::string()
                   : std::string(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
    }
    [[nodiscard]] ObjectId objectId(int column) const {
        if (sqlite3_column_bytes(stmt_, column) != static_cast<int>(ObjectId::kRawSize)) {
            return {};
        }
        return ObjectId::fromRaw(static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, column)));
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

struct DatabaseCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

std::string errnoText(int error) {
    return std::generic_category().message(error);
}

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

class SqliteOverlayStore final : public OverlayStore {
public:
    SqliteOverlayStore(std::filesystem::path dir, const XattrLimits& xattrLimits)
        : dir_(std::move(dir)), xattrLimits_(xattrLimits) {
        std::error_code ec;
        std::filesystem::create_directories(dir_ / "files", ec);
        if (ec) {
            throw OverlayError(EIO, "overlay " + dir_.string() + ": " + ec.message());
        }
        if (::stat(dir_.c_str(), &identity_) != 0) {
            throw OverlayError(EIO, "overlay " + dir_.string() + ": " + errnoText(errno));
        }
        const std::string dbPath = (dir_ / "overlay.db").string();
        sqlite3* raw = nullptr;
        const int rc = sqlite3_open_v2(
            dbPath.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
            nullptr);
        db_.reset(raw);
        if (rc != SQLITE_OK) {
            throw OverlayError(EIO, "overlay " + dbPath + ": " +
                                        (raw != nullptr ? sqlite3_errmsg(raw) : "cannot open"));
        }
        sqlite3_busy_timeout(db_.get(), 5000);
        try {
            exec("PRAGMA journal_mode=WAL");
            exec("PRAGMA synchronous=NORMAL");
            exec(kSchema);
            checkFormat();
            nextNode_ = firstFreeNodeId();
        } catch (const OverlayError& e) {
            throw OverlayError(
                EIO, "overlay " + dbPath + ": " + e.what() + " (not an overlay database?)");
        }
        recover();
    }

    std::optional<ObjectId> baseCommit() const override {
        std::lock_guard lock(mutex_);
        auto& s = stmt("SELECT value FROM meta WHERE key = 'base_commit'").reset();
        if (!s.step()) {
            return std::nullopt;
        }
        return s.objectId(0);
    }

    void setBaseCommit(const ObjectId& commit) override {
        transaction([&] {
            stmt("INSERT OR REPLACE INTO meta(key, value) VALUES ('base_commit', ?1)")
                .reset()
                .bind(1, commit)
                .run();
        });
    }

    bool empty() const override {
        std::lock_guard lock(mutex_);
        return !nodeExists(kRootNode);
    }

    void materializeRoot(const std::vector<TreeEntry>& baseEntries,
                         const NodeAttributes& attributes) override {
        transaction([&] {
            if (nodeExists(kRootNode)) {
                return;
            }
            NodeAttributes root = attributes;
            root.type = NodeType::Directory;
            insertNode(kRootNode, root, baseEntries);
        });
    }

    std::vector<DirEntry> list(NodeId dir) const override {
        std::lock_guard lock(mutex_);
        requireDirectory(dir);
        std::vector<DirEntry> entries;
        auto& s = stmt(
                      "SELECT name, node, base_id, base_kind FROM entries WHERE dir = ?1 "
                      "ORDER BY name")
                      .reset()
                      .bind(1, static_cast<int64_t>(dir));
        while (s.step()) {
            entries.push_back(entryFrom(s));
        }
        return entries;
    }

    std::optional<DirEntry> find(NodeId dir, std::string_view name) const override {
        std::lock_guard lock(mutex_);
        auto found = findEntry(dir, name);
        if (!found) {
            requireDirectory(dir);  // absent name, or no such directory: say which
        }
        return found;
    }

    size_t entryCount(NodeId dir) const override {
        std::lock_guard lock(mutex_);
        requireDirectory(dir);
        auto& s = stmt("SELECT count(*) FROM entries WHERE dir = ?1")
                      .reset()
                      .bind(1, static_cast<int64_t>(dir));
        s.step();
        return static_cast<size_t>(s.integer(0));
    }

    void put(NodeId dir, const DirEntry& entry) override {
        transaction([&] {
            requireDirectory(dir);
            if (auto old = findEntry(dir, entry.name)) {
                if (!old->isBase() && old->node != entry.node) {
                    deleteNodeTree(old->node);
                }
                deleteXattrs(dir, entry.name);  // a new name has none: one statement less
            }
            writeEntry(dir, entry);
        });
    }

    void setIdentity(NodeId dir, const DirEntry& entry) override {
        transaction([&] {
            requireDirectory(dir);
            auto old = findEntry(dir, entry.name);
            if (!old) {
                throw OverlayError(ENOENT, "overlay directory " + std::to_string(dir) +
                                               " has no entry '" + entry.name + "'");
            }
            if (!old->isBase() && old->node != entry.node) {
                deleteNodeTree(old->node);
            }
            writeEntry(dir, entry);
        });
    }

    bool remove(NodeId dir, std::string_view name) override {
        bool removed = false;
        transaction([&] {
            requireDirectory(dir);
            auto old = findEntry(dir, name);
            if (!old) {
                return;
            }
            deleteEntry(dir, name);
            deleteXattrs(dir, name);
            if (!old->isBase()) {
                deleteNodeTree(old->node);
            }
            removed = true;
        });
        return removed;
    }

    void rename(NodeId fromDir, std::string_view from, NodeId toDir, std::string_view to,
                unsigned flags) override {
        transaction([&] {
            requireDirectory(fromDir);
            requireDirectory(toDir);
            auto source = findEntry(fromDir, from);
            if (!source) {
                throw OverlayError(ENOENT, "rename: no entry '" + std::string(from) + "'");
            }
            auto target = findEntry(toDir, to);
            if ((flags & kRenameExchange) != 0) {
                if (!target) {
                    throw OverlayError(ENOENT, "rename: no entry '" + std::string(to) + "'");
                }
                DirEntry a = *target;
                a.name = std::string(from);
                DirEntry b = *source;
                b.name = std::string(to);
                writeEntry(fromDir, a);
                writeEntry(toDir, b);
                // Through a key no entry has (names are never empty, dir 0 is no directory).
                moveXattrs(fromDir, from, 0, "");
                moveXattrs(toDir, to, fromDir, from);
                moveXattrs(0, "", toDir, to);
                return;
            }
            if (fromDir == toDir && from == to) {
                return;
            }
            if (target && (flags & kRenameNoReplace) != 0) {
                throw OverlayError(EEXIST, "rename: '" + std::string(to) + "' exists");
            }
            deleteEntry(fromDir, from);
            DirEntry moved = *source;
            moved.name = std::string(to);
            if (target && !target->isBase() && target->node != source->node) {
                deleteNodeTree(target->node);
            }
            deleteXattrs(toDir, to);
            writeEntry(toDir, moved);
            moveXattrs(fromDir, from, toDir, to);
        });
    }

    NodeId createNode(const NodeAttributes& attributes,
                      const std::vector<TreeEntry>& baseEntries) override {
        NodeId id = 0;
        transaction([&] { id = insertNode(0, attributes, baseEntries); });
        return id;
    }

    NodeAttributes attributes(NodeId node) const override {
        std::lock_guard lock(mutex_);
        auto& s = stmt(
                      "SELECT type, permissions, uid, gid, mtime_sec, mtime_nsec, ctime_sec, "
                      "ctime_nsec, target FROM nodes WHERE id = ?1")
                      .reset()
                      .bind(1, static_cast<int64_t>(node));
        if (!s.step()) {
            throw OverlayError(ENOENT, "overlay node " + std::to_string(node) + " does not exist");
        }
        NodeAttributes a;
        a.type = static_cast<NodeType>(s.integer(0));
        a.permissions = static_cast<mode_t>(s.integer(1));
        a.uid = static_cast<uid_t>(s.integer(2));
        a.gid = static_cast<gid_t>(s.integer(3));
        a.mtime = timespec{static_cast<time_t>(s.integer(4)), static_cast<long>(s.integer(5))};
        a.ctime = timespec{static_cast<time_t>(s.integer(6)), static_cast<long>(s.integer(7))};
        a.symlinkTarget = s.text(8);
        return a;
    }

    void setAttributes(NodeId node, const NodeAttributes& a) override {
        transaction([&] {
            auto& s = stmt(
                          "UPDATE nodes SET permissions = ?2, uid = ?3, gid = ?4, "
                          "mtime_sec = ?5, mtime_nsec = ?6, ctime_sec = ?7, ctime_nsec = ?8, "
                          "target = ?9 WHERE id = ?1")
                          .reset();
            s.bind(1, static_cast<int64_t>(node))
                .bind(2, static_cast<int64_t>(a.permissions & 07777))
                .bind(3, static_cast<int64_t>(a.uid))
                .bind(4, static_cast<int64_t>(a.gid))
                .bind(5, static_cast<int64_t>(a.mtime.tv_sec))
                .bind(6, static_cast<int64_t>(a.mtime.tv_nsec))
                .bind(7, static_cast<int64_t>(a.ctime.tv_sec))
                .bind(8, static_cast<int64_t>(a.ctime.tv_nsec))
                .bind(9, std::string_view(a.symlinkTarget));
            s.run();
            if (sqlite3_changes(db_.get()) == 0) {
                throw OverlayError(ENOENT,
                                   "overlay node " + std::to_string(node) + " does not exist");
            }
        });
    }

    std::filesystem::path contentPath(NodeId file) const override {
        return contentFolder(file) / std::to_string(file);
    }

    std::optional<std::string> xattr(NodeId dir, std::string_view entry,
                                     std::string_view name) const override {
        std::lock_guard lock(mutex_);
        auto& s = stmt("SELECT value FROM xattrs WHERE dir = ?1 AND entry = ?2 AND name = ?3")
                      .reset()
                      .bind(1, static_cast<int64_t>(dir))
                      .bind(2, entry)
                      .bind(3, name);
        if (s.step()) {
            return s.text(0);
        }
        requireEntry(dir, entry);
        return std::nullopt;
    }

    std::vector<std::string> xattrNames(NodeId dir, std::string_view entry) const override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> names;
        auto& s = stmt("SELECT name FROM xattrs WHERE dir = ?1 AND entry = ?2 ORDER BY name")
                      .reset()
                      .bind(1, static_cast<int64_t>(dir))
                      .bind(2, entry);
        while (s.step()) {
            names.push_back(s.text(0));
        }
        if (names.empty()) {
            requireEntry(dir, entry);
        }
        return names;
    }

    void setXattr(NodeId dir, std::string_view entry, std::string_view name, std::string_view value,
                  XattrMode mode) override {
        const std::string what = "xattr '" + std::string(name) + "'";
        if (name.empty() || name.size() > xattrLimits_.maxNameBytes) {
            throw OverlayError(ERANGE, what + ": a name is 1.." +
                                           std::to_string(xattrLimits_.maxNameBytes) + " bytes");
        }
        if (value.size() > xattrLimits_.maxValueBytes) {
            throw OverlayError(E2BIG, what + ": a value is at most " +
                                          std::to_string(xattrLimits_.maxValueBytes) + " bytes");
        }
        transaction([&] {
            requireEntry(dir, entry);
            const bool exists = stmt(
                                    "SELECT 1 FROM xattrs WHERE dir = ?1 AND entry = ?2 AND "
                                    "name = ?3")
                                    .reset()
                                    .bind(1, static_cast<int64_t>(dir))
                                    .bind(2, entry)
                                    .bind(3, name)
                                    .step();
            if (exists && mode == XattrMode::Create) {
                throw OverlayError(EEXIST, what + " exists");
            }
            if (!exists && mode == XattrMode::Replace) {
                throw OverlayError(ENODATA, what + " is not set");
            }
            // The entry's other attributes plus this one: what it would hold after.
            auto& others = stmt(
                               "SELECT count(*), coalesce(sum(length(name)), 0), "
                               "coalesce(sum(length(value)), 0) FROM xattrs "
                               "WHERE dir = ?1 AND entry = ?2 AND name != ?3")
                               .reset()
                               .bind(1, static_cast<int64_t>(dir))
                               .bind(2, entry)
                               .bind(3, name);
            others.step();
            const auto listBytes =
                static_cast<size_t>(others.integer(0) + others.integer(1)) + name.size() + 1;
            const auto allBytes = static_cast<size_t>(others.integer(1) + others.integer(2)) +
                                  name.size() + value.size();
            if (listBytes > xattrLimits_.maxListBytes || allBytes > xattrLimits_.maxBytesPerEntry) {
                throw OverlayError(
                    ENOSPC, what + ": the file's extended attributes would exceed " +
                                std::to_string(xattrLimits_.maxBytesPerEntry) + " bytes (or " +
                                std::to_string(xattrLimits_.maxListBytes) + " bytes of names)");
            }
            stmt("INSERT OR REPLACE INTO xattrs(dir, entry, name, value) VALUES (?1, ?2, ?3, ?4)")
                .reset()
                .bind(1, static_cast<int64_t>(dir))
                .bind(2, entry)
                .bind(3, name)
                .bind(4, value)
                .run();
        });
    }

    bool removeXattr(NodeId dir, std::string_view entry, std::string_view name) override {
        bool removed = false;
        transaction([&] {
            requireEntry(dir, entry);
            stmt("DELETE FROM xattrs WHERE dir = ?1 AND entry = ?2 AND name = ?3")
                .reset()
                .bind(1, static_cast<int64_t>(dir))
                .bind(2, entry)
                .bind(3, name)
                .run();
            removed = sqlite3_changes(db_.get()) != 0;
        });
        return removed;
    }

    void sync() override {
        std::set<std::filesystem::path> folders;
        {
            std::lock_guard lock(mutex_);
            folders.swap(unsyncedFolders_);
        }
        for (const auto& folder : folders) {
            fsyncPath(folder, O_RDONLY | O_DIRECTORY);
        }
        // The WAL holds every commit since the last checkpoint; fsync makes them durable
        // (a checkpoint fsyncs the database itself before it reuses the WAL).
        std::lock_guard lock(mutex_);
        const auto wal = dir_ / "overlay.db-wal";
        if (std::filesystem::exists(wal)) {
            fsyncPath(wal, O_RDONLY);
        }
    }

    void transaction(const std::function<void()>& fn) override {
        std::lock_guard lock(mutex_);
        if (depth_ == 0) {
            checkFolderLocked();
        }
        const std::string savepoint = "s" + std::to_string(depth_);
        const size_t createdMark = created_.size();
        const size_t doomedMark = doomed_.size();
        exec(depth_ == 0 ? "BEGIN IMMEDIATE" : ("SAVEPOINT " + savepoint).c_str());
        ++depth_;
        try {
            fn();
        } catch (...) {
            --depth_;
            try {
                if (depth_ == 0) {
                    exec("ROLLBACK");
                } else {
                    exec(("ROLLBACK TO " + savepoint).c_str());
                    exec(("RELEASE " + savepoint).c_str());
                }
            } catch (const std::exception& e) {
                spdlog::error("overlay {}: rollback failed: {}", dir_.string(), e.what());
            }
            for (size_t i = createdMark; i < created_.size(); ++i) {
                ::unlink(contentPath(created_[i]).c_str());
            }
            created_.resize(createdMark);
            doomed_.resize(doomedMark);
            throw;
        }
        --depth_;
        if (depth_ > 0) {
            exec(("RELEASE " + savepoint).c_str());
            return;
        }
        try {
            exec("COMMIT");
        } catch (...) {
            try {
                exec("ROLLBACK");
            } catch (...) {  // already rolled back by SQLite
            }
            for (NodeId id : created_) {
                ::unlink(contentPath(id).c_str());
            }
            created_.clear();
            doomed_.clear();
            throw;
        }
        created_.clear();
        // Only now is nothing naming these nodes any more; a crash before the unlink leaves
        // orphans that recovery deletes.
        for (NodeId id : doomed_) {
            ::unlink(contentPath(id).c_str());
        }
        doomed_.clear();
    }

    void clear() override {
        transaction([&] {
            std::vector<NodeId> files;
            auto& s = stmt("SELECT id FROM nodes WHERE type = ?1")
                          .reset()
                          .bind(1, static_cast<int64_t>(NodeType::File));
            while (s.step()) {
                files.push_back(static_cast<NodeId>(s.integer(0)));
            }
            exec("DELETE FROM entries");
            exec("DELETE FROM nodes");
            exec("DELETE FROM xattrs");
            doomed_.insert(doomed_.end(), files.begin(), files.end());
        });
    }

    OverlayStats stats() const override {
        std::lock_guard lock(mutex_);
        OverlayStats stats;
        auto& s = stmt("SELECT id, type FROM nodes").reset();
        while (s.step()) {
            ++stats.nodes;
            const auto type = static_cast<NodeType>(s.integer(1));
            if (type == NodeType::Directory) {
                ++stats.materializedDirectories;
            } else if (type == NodeType::File) {
                std::error_code ec;
                const auto size =
                    std::filesystem::file_size(contentPath(static_cast<NodeId>(s.integer(0))), ec);
                stats.contentBytes += ec ? 0 : size;
            }
        }
        return stats;
    }

    const std::filesystem::path& directory() const override { return dir_; }

    std::optional<std::string> fault() const override {
        // dir_ and identity_ never change after the constructor: no lock needed.
        struct stat now {};
        if (::stat(dir_.c_str(), &now) == 0 && now.st_dev == identity_.st_dev &&
            now.st_ino == identity_.st_ino) {
            return std::nullopt;
        }
        return "overlay folder " + dir_.string() +
               " was deleted or replaced under the running mount; not re-creating an empty one "
               "(the changes it held would be lost without a word): unmount, restore it and "
               "mount again";
    }

private:
    void exec(const char* sql) const {
        char* message = nullptr;
        if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
            std::string text = message != nullptr ? message : sqlite3_errmsg(db_.get());
            sqlite3_free(message);
            throw OverlayError(EIO, "overlay " + dir_.string() + ": " + text);
        }
    }

    // Statements are prepared once and kept, keyed by their (literal) text.
    Statement& stmt(const char* sql) const {
        auto it = statements_.find(sql);
        if (it == statements_.end()) {
            it = statements_.emplace(sql, std::make_unique<Statement>(db_.get(), sql)).first;
        }
        return *it->second;
    }

    void checkFormat() {
        auto& s = stmt("SELECT value FROM meta WHERE key = 'format'").reset();
        if (s.step()) {
            if (s.text(0) != kFormatVersion) {
                throw OverlayError(EIO, "unknown overlay format " + s.text(0));
            }
            return;
        }
        stmt("INSERT INTO meta(key, value) VALUES ('format', ?1)")
            .reset()
            .bind(1, std::string_view(kFormatVersion))
            .run();
    }

    // Nodes made one after the other (an untar, a build) share a folder: 256 consecutive ids per
    // folder, then the next, so the disk allocates their inodes close together.
    std::filesystem::path contentFolder(NodeId file) const {
        char name[3];
        (void)std::snprintf(name, sizeof name, "%02x", static_cast<unsigned>((file >> 8U) & 0xffU));
        return dir_ / "files" / name;
    }

    void fsyncPath(const std::filesystem::path& path, int flags) const {
        UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
        if (!fd || ::fsync(fd.get()) != 0) {
            const int error = errno;
            throw OverlayError(EIO, "overlay: fsync " + path.string() + ": " + errnoText(error));
        }
    }

    bool nodeExists(NodeId id) const {
        return stmt("SELECT 1 FROM nodes WHERE id = ?1")
            .reset()
            .bind(1, static_cast<int64_t>(id))
            .step();
    }

    void requireDirectory(NodeId dir) const {
        auto& s =
            stmt("SELECT type FROM nodes WHERE id = ?1").reset().bind(1, static_cast<int64_t>(dir));
        if (!s.step()) {
            throw OverlayError(ENOENT,
                               "overlay directory " + std::to_string(dir) + " does not exist");
        }
        if (static_cast<NodeType>(s.integer(0)) != NodeType::Directory) {
            throw OverlayError(ENOTDIR,
                               "overlay node " + std::to_string(dir) + " is not a directory");
        }
    }

    static DirEntry entryFrom(const Statement& s) {
        DirEntry e;
        e.name = s.text(0);
        e.node = static_cast<NodeId>(s.integer(1));
        if (e.node == 0) {
            e.baseId = s.objectId(2);
            e.baseKind = static_cast<EntryKind>(s.integer(3));
        }
        return e;
    }

    std::optional<DirEntry> findEntry(NodeId dir, std::string_view name) const {
        auto& s = stmt(
                      "SELECT name, node, base_id, base_kind FROM entries "
                      "WHERE dir = ?1 AND name = ?2")
                      .reset()
                      .bind(1, static_cast<int64_t>(dir))
                      .bind(2, name);
        if (!s.step()) {
            return std::nullopt;
        }
        return entryFrom(s);
    }

    void writeEntry(NodeId dir, const DirEntry& e) {
        auto& s = stmt(
                      "INSERT OR REPLACE INTO entries(dir, name, node, base_id, base_kind) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)")
                      .reset();
        s.bind(1, static_cast<int64_t>(dir))
            .bind(2, std::string_view(e.name))
            .bind(3, static_cast<int64_t>(e.node));
        if (e.isBase()) {
            s.bind(4, e.baseId);
        }
        s.bind(5, static_cast<int64_t>(e.baseKind)).run();
    }

    void deleteEntry(NodeId dir, std::string_view name) {
        stmt("DELETE FROM entries WHERE dir = ?1 AND name = ?2")
            .reset()
            .bind(1, static_cast<int64_t>(dir))
            .bind(2, name)
            .run();
    }

    void deleteXattrs(NodeId dir, std::string_view entry) {
        stmt("DELETE FROM xattrs WHERE dir = ?1 AND entry = ?2")
            .reset()
            .bind(1, static_cast<int64_t>(dir))
            .bind(2, entry)
            .run();
    }

    void moveXattrs(NodeId fromDir, std::string_view from, NodeId toDir, std::string_view to) {
        stmt("UPDATE xattrs SET dir = ?3, entry = ?4 WHERE dir = ?1 AND entry = ?2")
            .reset()
            .bind(1, static_cast<int64_t>(fromDir))
            .bind(2, from)
            .bind(3, static_cast<int64_t>(toDir))
            .bind(4, to)
            .run();
    }

    // The owner of extended attributes: an entry of a materialized directory, or the root.
    void requireEntry(NodeId dir, std::string_view entry) const {
        if (dir == kRootNode && entry.empty()) {
            if (!nodeExists(kRootNode)) {
                throw OverlayError(ENOENT, "overlay root is not materialized");
            }
            return;
        }
        if (!findEntry(dir, entry)) {
            requireDirectory(dir);
            throw OverlayError(ENOENT, "overlay directory " + std::to_string(dir) +
                                           " has no entry '" + std::string(entry) + "'");
        }
    }

    // Above every id in use and every id the database ever gave (sqlite_sequence, in overlays
    // made while nodes had AUTOINCREMENT). An id freed before a restart may come back after it:
    // nothing outside the database names a node across a restart (the kernel's inodes die with
    // the mount, a deleted node's content file is gone or removed by recovery before any create).
    NodeId firstFreeNodeId() {
        auto& used = stmt("SELECT coalesce(max(id), 0) FROM nodes").reset();
        used.step();
        auto next = static_cast<NodeId>(used.integer(0));
        auto& legacy = stmt(
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'sqlite_sequence'")
                           .reset();
        legacy.step();
        if (legacy.integer(0) != 0) {
            auto& seq = stmt("SELECT seq FROM sqlite_sequence WHERE name = 'nodes'").reset();
            if (seq.step()) {
                next = std::max(next, static_cast<NodeId>(seq.integer(0)));
            }
        }
        return std::max(next, kRootNode) + 1;
    }

    // Inserts a node (id 0: a fresh one) and, for a file, its empty content file.
    NodeId insertNode(NodeId id, const NodeAttributes& a, const std::vector<TreeEntry>& entries) {
        auto& s = stmt(
                      "INSERT INTO nodes(id, type, permissions, uid, gid, mtime_sec, mtime_nsec, "
                      "ctime_sec, ctime_nsec, target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                      "?9, ?10)")
                      .reset();
        // Taken even if the transaction rolls back: an id is never handed out twice.
        const NodeId node = id != 0 ? id : nextNode_++;
        nextNode_ = std::max(nextNode_, node + 1);
        s.bind(1, static_cast<int64_t>(node));
        const timespec t = now();
        const timespec mtime = a.mtime.tv_sec == 0 && a.mtime.tv_nsec == 0 ? t : a.mtime;
        const timespec ctime = a.ctime.tv_sec == 0 && a.ctime.tv_nsec == 0 ? t : a.ctime;
        s.bind(2, static_cast<int64_t>(a.type))
            .bind(3, static_cast<int64_t>(a.permissions & 07777))
            .bind(4, static_cast<int64_t>(a.uid))
            .bind(5, static_cast<int64_t>(a.gid))
            .bind(6, static_cast<int64_t>(mtime.tv_sec))
            .bind(7, static_cast<int64_t>(mtime.tv_nsec))
            .bind(8, static_cast<int64_t>(ctime.tv_sec))
            .bind(9, static_cast<int64_t>(ctime.tv_nsec))
            .bind(10, std::string_view(a.symlinkTarget))
            .run();
        if (a.type == NodeType::File) {
            createContentFile(node);
        }
        for (const TreeEntry& entry : entries) {
            writeEntry(node, DirEntry::base(entry));
        }
        return node;
    }

    void createContentFile(NodeId node) {
        const auto folder = contentFolder(node);
        const auto path = contentPath(node);
        const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
        UniqueFd fd(::open(path.c_str(), flags, 0600));
        if (!fd && errno == ENOENT) {  // the first of its 256 ids: its folder is new
            std::error_code ec;
            std::filesystem::create_directories(folder, ec);
            fd = UniqueFd(::open(path.c_str(), flags, 0600));
        }
        if (!fd) {
            const int error = errno;
            throw OverlayError(error == ENOSPC ? ENOSPC : EIO,
                               "overlay: creating " + path.string() + ": " + errnoText(error));
        }
        created_.push_back(node);
        unsyncedFolders_.insert(folder);
    }

    // Deletes node and, for a directory, every node below it; content files go at commit.
    void deleteNodeTree(NodeId root) {
        std::vector<NodeId> pending{root};
        while (!pending.empty()) {
            const NodeId node = pending.back();
            pending.pop_back();
            auto& type = stmt("SELECT type FROM nodes WHERE id = ?1")
                             .reset()
                             .bind(1, static_cast<int64_t>(node));
            if (!type.step()) {
                continue;
            }
            const auto nodeType = static_cast<NodeType>(type.integer(0));
            if (nodeType == NodeType::Directory) {
                auto& children = stmt("SELECT node FROM entries WHERE dir = ?1 AND node != 0")
                                     .reset()
                                     .bind(1, static_cast<int64_t>(node));
                while (children.step()) {
                    pending.push_back(static_cast<NodeId>(children.integer(0)));
                }
                stmt("DELETE FROM entries WHERE dir = ?1")
                    .reset()
                    .bind(1, static_cast<int64_t>(node))
                    .run();
                stmt("DELETE FROM xattrs WHERE dir = ?1")
                    .reset()
                    .bind(1, static_cast<int64_t>(node))
                    .run();
            } else if (nodeType == NodeType::File) {
                doomed_.push_back(node);
            }
            stmt("DELETE FROM nodes WHERE id = ?1")
                .reset()
                .bind(1, static_cast<int64_t>(node))
                .run();
        }
    }

    // See the file comment: what a crash can leave behind, and how it is repaired.
    void recover() {
        size_t unnamed = 0;
        transaction([&] {
            // Entries of directories that no longer exist, then nodes no entry names.
            for (;;) {
                exec("DELETE FROM entries WHERE dir NOT IN (SELECT id FROM nodes)");
                std::vector<NodeId> orphans;
                auto& s = stmt(
                              "SELECT id FROM nodes WHERE id != 1 AND id NOT IN "
                              "(SELECT node FROM entries WHERE node != 0)")
                              .reset();
                while (s.step()) {
                    orphans.push_back(static_cast<NodeId>(s.integer(0)));
                }
                if (orphans.empty()) {
                    break;
                }
                unnamed += orphans.size();
                for (NodeId id : orphans) {
                    deleteNodeTree(id);
                }
            }
            // Extended attributes nobody owns: every change keeps them with their entry, but a
            // daemon older than them does not (an overlay opened by one, then by this one).
            exec(
                "DELETE FROM xattrs WHERE NOT (dir = 1 AND entry = x'' AND EXISTS "
                "(SELECT 1 FROM nodes WHERE id = 1)) AND NOT EXISTS (SELECT 1 FROM entries e "
                "WHERE e.dir = xattrs.dir AND e.name = xattrs.entry)");
        });
        // Content files: every file node has one, nothing else is in files/.
        std::set<NodeId> fileNodes;
        {
            std::lock_guard lock(mutex_);
            auto& s = stmt("SELECT id FROM nodes WHERE type = ?1")
                          .reset()
                          .bind(1, static_cast<int64_t>(NodeType::File));
            while (s.step()) {
                fileNodes.insert(static_cast<NodeId>(s.integer(0)));
            }
        }
        size_t removedFiles = 0;
        size_t recreated = 0;
        std::error_code ec;
        for (const auto& folder : std::filesystem::directory_iterator(dir_ / "files", ec)) {
            if (!folder.is_directory(ec)) {
                std::filesystem::remove(folder.path(), ec);
                ++removedFiles;
                continue;
            }
            for (const auto& file : std::filesystem::directory_iterator(folder.path(), ec)) {
                const std::string name = file.path().filename().string();
                char* end = nullptr;
                const unsigned long long id = std::strtoull(name.c_str(), &end, 10);
                if (end != nullptr && *end == '\0' && !name.empty() && fileNodes.count(id) != 0 &&
                    file.path() == contentPath(id)) {
                    continue;
                }
                std::filesystem::remove_all(file.path(), ec);
                ++removedFiles;
            }
        }
        for (NodeId id : fileNodes) {
            if (!std::filesystem::exists(contentPath(id), ec)) {
                std::lock_guard lock(mutex_);
                createContentFile(id);
                created_.clear();
                ++recreated;
            }
        }
        if (unnamed + removedFiles + recreated > 0) {
            spdlog::warn(
                "overlay {}: recovered after a crash: {} unnamed nodes and {} orphan "
                "content files deleted, {} missing content files recreated empty",
                dir_.string(), unnamed, removedFiles, recreated);
            sync();
        }
    }

    // The overlay is the user's only copy of their changes, not a cache: when its folder was
    // deleted (or replaced) under the mount, every change fails with EIO and a log line, instead
    // of going on in a database with no name on disk or re-creating files/ in an empty folder
    // (docs/reliability.md, "Cache folder deleted").
    void checkFolderLocked() {
        auto what = fault();
        if (!what) {
            return;
        }
        if (!goneReported_) {
            goneReported_ = true;
            spdlog::error("{}", *what);
        }
        throw OverlayError(EIO, *what);
    }

    const std::filesystem::path dir_;
    struct stat identity_ {};  // dir_ when opened: device and inode
    bool goneReported_ = false;
    const XattrLimits xattrLimits_;
    // Lock order: leaf (callers may hold their own locks; nothing here calls out).
    mutable std::recursive_mutex mutex_;
    std::unique_ptr<sqlite3, DatabaseCloser> db_;
    mutable std::unordered_map<const char*, std::unique_ptr<Statement>> statements_;
    int depth_ = 0;                // transaction() nesting
    NodeId nextNode_ = 0;          // the id the next new node gets (firstFreeNodeId)
    std::vector<NodeId> created_;  // content files created by the open transaction
    std::vector<NodeId> doomed_;   // content files to unlink once it commits
    std::set<std::filesystem::path> unsyncedFolders_;
};

}  // namespace

std::unique_ptr<OverlayStore> OverlayStore::open(const std::filesystem::path& dir,
                                                 const XattrLimits& xattrLimits) {
    return std::make_unique<SqliteOverlayStore>(dir, xattrLimits);
}

}  // namespace megafuse::overlay
