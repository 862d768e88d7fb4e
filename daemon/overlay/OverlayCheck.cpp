// OverlayCheck: walks an overlay through OverlayStore's own interface (what the filesystem sees)
// and looks at overlay.db with SQLite's integrity_check (what the interface cannot see).
#include "overlay/OverlayCheck.hpp"

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "overlay/OverlayStore.hpp"

namespace megafuse::overlay {
namespace {

struct SqliteCloser {
    void operator()(sqlite3* db) const { sqlite3_close(db); }
};

// Every row integrity_check returns that is not "ok", or why it could not run.
void checkDatabase(const std::filesystem::path& dbPath, std::vector<std::string>& problems) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(dbPath.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    std::unique_ptr<sqlite3, SqliteCloser> db(raw);
    if (rc != SQLITE_OK) {
        problems.push_back(dbPath.string() + ": cannot open: " +
                           (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory"));
        return;
    }
    sqlite3_stmt* rawStmt = nullptr;
    if (sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &rawStmt, nullptr) !=
        SQLITE_OK) {
        problems.push_back(dbPath.string() + ": integrity_check: " + sqlite3_errmsg(db.get()));
        return;
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(rawStmt, sqlite3_finalize);
    int step = SQLITE_ROW;
    while ((step = sqlite3_step(stmt.get())) == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
        const std::string line = text != nullptr ? text : "";
        if (line != "ok") {
            problems.push_back(dbPath.string() + ": integrity_check: " + line);
        }
    }
    if (step != SQLITE_DONE) {
        problems.push_back(dbPath.string() + ": integrity_check: " + sqlite3_errmsg(db.get()));
    }
}

class Walk {
public:
    Walk(const OverlayStore& overlay, OverlayCheckReport& report)
        : overlay_(overlay), report_(report) {}

    // Directories are walked with an explicit stack: a deep tree must not overflow ours.
    void fromRoot() {
        visit(kRootNode, "/");
        std::vector<std::pair<NodeId, std::string>> pending{{kRootNode, ""}};
        while (!pending.empty()) {
            auto [dir, path] = std::move(pending.back());
            pending.pop_back();
            for (const DirEntry& entry : listOrReport(dir, path)) {
                if (entry.isBase()) {
                    continue;
                }
                const std::string childPath = path + "/" + entry.name;
                const auto type = visit(entry.node, childPath);
                if (type == NodeType::Directory) {
                    pending.emplace_back(entry.node, childPath);
                }
            }
        }
    }

    [[nodiscard]] const std::set<std::filesystem::path>& contentFiles() const {
        return contentFiles_;
    }

private:
    std::vector<DirEntry> listOrReport(NodeId dir, const std::string& path) {
        try {
            return overlay_.list(dir);
        } catch (const OverlayError& e) {
            report_.problems.push_back("directory node " + std::to_string(dir) + " (" + path +
                                       "): cannot list: " + e.what());
            return {};
        }
    }

    // The node's type, or nullopt when it is named twice or has no attributes (reported).
    std::optional<NodeType> visit(NodeId node, const std::string& path) {
        if (!seen_.insert(node).second) {
            report_.problems.push_back("node " + std::to_string(node) + " (" + path +
                                       ") is named by more than one entry");
            return std::nullopt;
        }
        NodeAttributes attributes;
        try {
            attributes = overlay_.attributes(node);
        } catch (const OverlayError& e) {
            report_.problems.push_back("node " + std::to_string(node) + " (" + path +
                                       ") is named but missing: " + e.what());
            return std::nullopt;
        }
        ++report_.nodes;
        if (attributes.type == NodeType::Directory) {
            ++report_.directoryNodes;
        } else if (attributes.type == NodeType::File) {
            ++report_.fileNodes;
            const auto content = overlay_.contentPath(node);
            std::error_code ec;
            if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(content, ec))) {
                report_.problems.push_back("file node " + std::to_string(node) + " (" + path +
                                           ") has no content file " + content.string());
            }
            contentFiles_.insert(content);
        }
        return attributes.type;
    }

    const OverlayStore& overlay_;
    OverlayCheckReport& report_;
    std::set<NodeId> seen_;
    std::set<std::filesystem::path> contentFiles_;
};

}  // namespace

OverlayCheckReport checkOverlay(const std::filesystem::path& dir) {
    OverlayCheckReport report;
    const auto overlay = OverlayStore::open(dir);
    std::set<std::filesystem::path> contentFiles;
    if (!overlay->empty()) {
        Walk walk(*overlay, report);
        walk.fromRoot();
        contentFiles = walk.contentFiles();
        const uint64_t stored = overlay->stats().nodes;
        if (stored != report.nodes) {
            report.problems.push_back(std::to_string(stored) + " nodes stored but " +
                                      std::to_string(report.nodes) +
                                      " reachable from the root (leaked or missing nodes)");
        }
    }
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir / "files", ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_directory(ec) && !contentFiles.contains(it->path())) {
            report.problems.push_back("content file " + it->path().string() +
                                      " belongs to no file node");
        }
    }
    if (ec) {
        report.problems.push_back((dir / "files").string() + ": " + ec.message());
    }
    checkDatabase(dir / "overlay.db", report.problems);
    return report;
}

}  // namespace megafuse::overlay
