// ChangeSet: what a developer does with the edits of a writable mount — list them, diff them,
// reset them, commit them as a real Git commit, push it, and move the mount to another revision
// keeping them. Works on the OverlayStore (what changed) and the ObjectStore (the base, and where
// new objects are written); knows nothing of FUSE or D-Bus beyond the LiveView it is handed.
//
// Paths are mount-relative ("src/a.c"), as a user types them inside the mount. A mount rooted at
// a sub-path commits the whole repository tree: the base commit's tree with the subtree at the
// sub-path replaced.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "changes/ContentHashCache.hpp"
#include "overlay/LiveView.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectId.hpp"
#include "store/ObjectStore.hpp"
#include "store/Tree.hpp"

namespace megafuse::changes {

enum class ChangeSetErrc {
    NothingToCommit,  // commit with an empty change set
    Conflict,         // checkout would overwrite local changes (paths listed in the message)
    PushRejected,     // the server refused (its message is what())
    NotFound,         // unknown revision or path
    Unsupported,      // e.g. push from a local-path source with no remote
    Failed,           // anything else: git failed, I/O error (what() says which)
};

class ChangeSetError : public std::runtime_error {
public:
    ChangeSetError(ChangeSetErrc code, const std::string& what)
        : std::runtime_error(what), code_(code) {}
    [[nodiscard]] ChangeSetErrc code() const { return code_; }

private:
    ChangeSetErrc code_;
};

// One path that differs from the base, as `git status --porcelain` (after `git add -A`) would
// show it. Renames are exact (same blob id at the old and the new path).
struct Change {
    enum class Kind { Added, Modified, Deleted, Renamed, TypeChanged };
    Kind kind = Kind::Modified;
    std::string path;     // the new path (the only one, except for Renamed)
    std::string oldPath;  // Renamed: where it came from
    // Git modes as octal text, "" when absent ("100644", "100755", "120000", "040000").
    std::string oldMode;
    std::string newMode;
};

// "A", "M", "D", "R", "T": git's status letters.
char statusLetter(Change::Kind kind);

struct Signature {
    std::string name;
    std::string email;
};

struct CommitRequest {
    std::string message;
    std::optional<Signature> author;  // nullopt: YAML author, else git config, else an error
};

struct PushResult {
    std::string remoteRef;      // refs/heads/main
    store::ObjectId commit;     // what was pushed
    std::string serverMessage;  // the server's output, for the user
};

struct ChangeSetOptions {
    std::string subPath;                 // the mount's sub-path in the repository, "" = root
    std::string revision;                // the configured revision (push's default branch)
    std::optional<Signature> author;     // YAML `author`, when set
    size_t maxDiffBytes = 64ULL << 20U;  // a diff bigger than this fails (Failed) rather than
                                         // filling the daemon's memory; documented bound
    // Added after the first four (so existing aggregate initializers keep their meaning):
    std::chrono::milliseconds pushTimeout{std::chrono::minutes(10)};  // one `git push`, at most
    std::string mountName;  // names the ref keeping commits alive: refs/mega-fuse/<name>
    // Blob ids of modified files kept between calls (ContentHashCache): at most this many files;
    // YAML changes_hash_cache_entries (docs/overlay.md, "Bounds").
    size_t maxHashCacheEntries = ContentHashCache::kDefaultMaxEntries;
};

class ChangeSet {
public:
    // store: the source's object store (base trees, new objects). overlay and view outlive this.
    ChangeSet(std::shared_ptr<store::ObjectStore> store, overlay::OverlayStore& overlay,
              overlay::LiveView& view, ChangeSetOptions options);
    ~ChangeSet();
    ChangeSet(const ChangeSet&) = delete;
    ChangeSet& operator=(const ChangeSet&) = delete;

    // Changed paths under paths (empty = everywhere), sorted by path. O(changes): walks
    // materialized directories only. A file whose content and mode equal the base's is not a
    // change.
    std::vector<Change> changes(const std::vector<std::string>& paths = {});

    // Unified diff of those changes, Git-compatible (`git apply` accepts it; binary files as
    // "Binary files a/x and b/x differ").
    std::string diff(const std::vector<std::string>& paths = {});

    // Discards the changes under paths (empty = all): their base state comes back. Returns how
    // many changed paths were reset.
    size_t reset(const std::vector<std::string>& paths = {});

    // A real commit: parent = the base commit, tree = base + overlay (modes and symlinks
    // exact). Written to the local store; a ref refs/mega-fuse/<mount> keeps it alive; the
    // mount's base moves to it and the overlay empties. Throws NothingToCommit when clean.
    store::ObjectId commit(const CommitRequest& request);

    // Sends the base commit to the source's remote as remoteRef (empty = refs/heads/<configured
    // revision>; a name without "refs/" is a branch). Rejected → PushRejected with the server's
    // words; nothing local changes. NotFound when no ref is given and the configured revision is
    // a commit id or HEAD (no branch to push to).
    PushResult push(const std::string& remoteRef);

    // Moves the mount to revision keeping local changes. Conflict (paths changed locally whose
    // base differs between the two revisions) → Conflict listing them, nothing changes; force
    // → the local changes on those paths are dropped.
    store::ObjectId checkout(const std::string& revision, bool force);

    // The commit the mount shows now.
    [[nodiscard]] store::ObjectId baseCommit() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace megafuse::changes
