// ChangeSet: the public operations, each one lock (LiveView) + one overlay transaction around the
// rooms that do the work (ChangeWalk, UnifiedDiff, CommitBuilder, Checkout). Store and overlay
// errors become ChangeSetError here, once.
#include "changes/ChangeSet.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <set>
#include <system_error>

#include "changes/ChangeWalk.hpp"
#include "changes/Checkout.hpp"
#include "changes/CommitBuilder.hpp"
#include "changes/UnifiedDiff.hpp"
#include "common/UniqueFd.hpp"
#include "store/Libgit2.hpp"
#include "store/StoreError.hpp"

namespace megafuse::changes {
namespace {

using overlay::DirEntry;
using overlay::NodeType;
using store::EntryKind;

ChangeSetErrc fromStoreCode(store::StoreErrc code) {
    switch (code) {
        case store::StoreErrc::NotFound:
            return ChangeSetErrc::NotFound;
        case store::StoreErrc::Unsupported:
            return ChangeSetErrc::Unsupported;
        case store::StoreErrc::PushRejected:
            return ChangeSetErrc::PushRejected;
        default:
            return ChangeSetErrc::Failed;
    }
}

// Runs fn; the store's and the overlay's errors leave as ChangeSetError.
template <typename Fn>
auto translated(const char* operation, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const ChangeSetError&) {
        throw;
    } catch (const store::StoreError& e) {
        throw ChangeSetError(fromStoreCode(e.code()), std::string(operation) + ": " + e.what());
    } catch (const overlay::OverlayError& e) {
        throw ChangeSetError(ChangeSetErrc::Failed,
                             std::string(operation) + ": overlay: " + e.what());
    } catch (const std::system_error& e) {
        throw ChangeSetError(ChangeSetErrc::Failed, std::string(operation) + ": " + e.what());
    }
}

// "./a//b/" → "a/b"; "" and "." → "" (everything). Refuses absolute paths and "..".
std::string normalizedPath(const std::string& path) {
    if (!path.empty() && path.front() == '/') {
        throw ChangeSetError(ChangeSetErrc::NotFound,
                             "path '" + path + "' must be relative to the mount root");
    }
    std::string out;
    for (const auto& part : splitPath(path)) {
        if (part == "..") {
            throw ChangeSetError(ChangeSetErrc::NotFound,
                                 "path '" + path + "' must not contain '..'");
        }
        out += out.empty() ? part : "/" + part;
    }
    return out;
}

std::vector<std::string> normalizedPaths(const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    out.reserve(paths.size());
    for (const auto& path : paths) {
        out.push_back(normalizedPath(path));
    }
    return out;
}

bool isUnder(const std::string& path, const std::string& filter) {
    return filter.empty() || path == filter ||
           (path.size() > filter.size() && path.starts_with(filter) && path[filter.size()] == '/');
}

bool selected(const RawChange& change, const std::vector<std::string>& filters) {
    if (filters.empty()) {
        return true;
    }
    return std::any_of(filters.begin(), filters.end(), [&](const std::string& filter) {
        return isUnder(change.path, filter) ||
               (!change.oldPath.empty() && isUnder(change.oldPath, filter));
    });
}

Change::Kind kindOf(const RawChange& change) {
    if (!change.before) {
        return Change::Kind::Added;
    }
    if (!change.after) {
        return Change::Kind::Deleted;
    }
    if (!change.oldPath.empty()) {
        return Change::Kind::Renamed;
    }
    auto isFile = [](EntryKind kind) {
        return kind == EntryKind::Regular || kind == EntryKind::Executable;
    };
    if (isFile(change.before->kind) != isFile(change.after->kind) ||
        (change.before->kind == EntryKind::Gitlink) != (change.after->kind == EntryKind::Gitlink)) {
        return Change::Kind::TypeChanged;
    }
    return Change::Kind::Modified;
}

Change publicChange(const RawChange& raw) {
    Change change;
    change.kind = kindOf(raw);
    change.path = raw.path;
    change.oldPath = raw.oldPath;
    change.oldMode = raw.before ? gitModeString(raw.before->kind) : "";
    change.newMode = raw.after ? gitModeString(raw.after->kind) : "";
    return change;
}

// Minutes east of UTC of the local zone at t (what git writes after the time).
int utcOffsetMinutes(int64_t t) {
    const auto seconds = static_cast<time_t>(t);
    struct tm local {};
    localtime_r(&seconds, &local);
    return static_cast<int>(local.tm_gmtoff / 60);
}

// git commit's cleanup: trailing whitespace lines dropped, one final newline.
std::string cleanedMessage(const std::string& message) {
    std::string out = message;
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())) != 0) {
        out.pop_back();
    }
    size_t start = 0;
    while (start < out.size() && out[start] == '\n') {
        ++start;
    }
    out.erase(0, start);
    if (out.empty()) {
        throw ChangeSetError(ChangeSetErrc::Failed, "the commit message is empty");
    }
    return out + "\n";
}

bool looksLikeCommitId(const std::string& revision) {
    return revision.size() >= 4 && revision.size() <= 40 &&
           std::all_of(revision.begin(), revision.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// The bytes of a file node's content file, bounded.
std::string readContent(const std::filesystem::path& path, size_t maxBytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw ChangeSetError(ChangeSetErrc::Failed, "open " + path.string() + ": " +
                                                        std::generic_category().message(errno));
    }
    std::string out;
    char buffer[65536];
    while (true) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw ChangeSetError(ChangeSetErrc::Failed, "read " + path.string() + ": " +
                                                            std::generic_category().message(errno));
        }
        if (n == 0) {
            return out;
        }
        out.append(buffer, static_cast<size_t>(n));
        if (out.size() > maxBytes) {
            throw ChangeSetError(ChangeSetErrc::Failed,
                                 "the diff would exceed " + std::to_string(maxBytes) +
                                     " bytes (max_diff_bytes): diff fewer paths");
        }
    }
}

}  // namespace

char statusLetter(Change::Kind kind) {
    switch (kind) {
        case Change::Kind::Added:
            return 'A';
        case Change::Kind::Modified:
            return 'M';
        case Change::Kind::Deleted:
            return 'D';
        case Change::Kind::Renamed:
            return 'R';
        case Change::Kind::TypeChanged:
            return 'T';
    }
    return '?';
}

struct ChangeSet::Impl {
    std::shared_ptr<store::ObjectStore> store;
    overlay::OverlayStore& overlay;
    overlay::LiveView& view;
    ChangeSetOptions options;
    // Outlives every call, so a `changes` after another hashes only the files written since.
    std::unique_ptr<ContentHashCache> hashes;

    [[nodiscard]] store::ObjectId base() const {
        auto commit = overlay.baseCommit();
        if (!commit) {
            throw ChangeSetError(ChangeSetErrc::Failed,
                                 "the overlay has no base commit yet (the mount sets it)");
        }
        return *commit;
    }
    store::ObjectId rootOf(const store::ObjectId& commit) {
        return store->treeAtPath(commit, options.subPath);
    }
    ChangeWalk walker() { return {overlay, *store, hashes.get()}; }
    std::vector<RawChange> walk() { return walker().all(rootOf(base())); }
    // Empties the overlay; the node ids it had are free again, so their hashes go too.
    void clearOverlay() {
        overlay.clear();
        hashes->clear();
    }

    // Restores the base state of one path (its parents materialized as needed).
    void restore(const std::string& path, const store::ObjectId& baseRoot);
    [[nodiscard]] overlay::NodeAttributes directoryAttributes(overlay::NodeId parent) const;
};

overlay::NodeAttributes ChangeSet::Impl::directoryAttributes(overlay::NodeId parent) const {
    // A directory brought back takes its parent's owner; Git records no more than that.
    overlay::NodeAttributes attributes = overlay.attributes(parent);
    attributes.type = NodeType::Directory;
    attributes.permissions = 0755;
    attributes.symlinkTarget.clear();
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    attributes.mtime = now;
    attributes.ctime = now;
    return attributes;
}

void ChangeSet::Impl::restore(const std::string& path, const store::ObjectId& baseRoot) {
    const std::vector<std::string> parts = splitPath(path);
    if (parts.empty() || overlay.empty()) {
        return;
    }
    overlay::NodeId dir = overlay::kRootNode;
    std::optional<store::ObjectId> baseTree = baseRoot;
    auto baseEntry = [&](const std::string& name) -> std::optional<store::TreeEntry> {
        if (!baseTree) {
            return std::nullopt;
        }
        const auto tree = store->readTree(*baseTree);
        if (const store::TreeEntry* entry = tree->find(name)) {
            return *entry;
        }
        return std::nullopt;
    };
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const std::string& name = parts[i];
        const std::optional<store::TreeEntry> was = baseEntry(name);
        const std::optional<store::TreeEntry> wasTree =
            was && was->kind == EntryKind::Directory ? was : std::nullopt;
        const std::optional<DirEntry> now = overlay.find(dir, name);
        if (now && !now->isBase() && overlay.attributes(now->node).type == NodeType::Directory) {
            dir = now->node;
            baseTree = wasTree ? std::optional(wasTree->id) : std::nullopt;
            continue;
        }
        if (now && now->isBase() && wasTree && now->baseId == wasTree->id &&
            now->baseKind == EntryKind::Directory) {
            return;  // unchanged below here
        }
        if (now && now->isBase() && now->baseKind == EntryKind::Directory) {
            // A base tree moved here: materialize it to change one entry inside.
            const auto entries = store->readTree(now->baseId)->entries();
            const overlay::NodeId node = overlay.createNode(directoryAttributes(dir), entries);
            // The same folder under a new identity: its xattrs stay (put() would drop them).
            overlay.setIdentity(dir, DirEntry::overlayNode(name, node));
            dir = node;
            baseTree = wasTree ? std::optional(wasTree->id) : std::nullopt;
            continue;
        }
        if (!wasTree) {
            return;  // neither the base nor the overlay has a directory on the way
        }
        // The directory was deleted or replaced locally: bring back just the way to path.
        const overlay::NodeId node = overlay.createNode(directoryAttributes(dir));
        overlay.put(dir, DirEntry::overlayNode(name, node));
        dir = node;
        baseTree = wasTree->id;
    }
    const std::string& name = parts.back();
    if (const std::optional<store::TreeEntry> was = baseEntry(name)) {
        overlay.put(dir, DirEntry::base(*was));
    } else {
        overlay.remove(dir, name);
    }
}

ChangeSet::ChangeSet(std::shared_ptr<store::ObjectStore> store, overlay::OverlayStore& overlay,
                     overlay::LiveView& view, ChangeSetOptions options)
    : impl_(std::make_unique<Impl>(
          Impl{std::move(store), overlay, view, std::move(options), nullptr})) {
    impl_->hashes = std::make_unique<ContentHashCache>(impl_->options.maxHashCacheEntries);
    store::ensureLibgit2();
}

ChangeSet::~ChangeSet() = default;

store::ObjectId ChangeSet::baseCommit() const {
    return translated("base commit", [&] { return impl_->base(); });
}

std::vector<Change> ChangeSet::changes(const std::vector<std::string>& paths) {
    const std::vector<std::string> filters = normalizedPaths(paths);
    return translated("changes", [&] {
        std::vector<Change> out;
        impl_->view.readConsistently([&] {
            for (const RawChange& raw : impl_->walk()) {
                if (selected(raw, filters)) {
                    out.push_back(publicChange(raw));
                }
            }
        });
        return out;
    });
}

std::string ChangeSet::diff(const std::vector<std::string>& paths) {
    const std::vector<std::string> filters = normalizedPaths(paths);
    const size_t limit = impl_->options.maxDiffBytes;
    return translated("diff", [&] {
        std::string out;
        impl_->view.readConsistently([&] {
            std::vector<RawChange> selectedChanges;
            std::vector<store::ObjectId> wanted;
            for (RawChange& raw : impl_->walk()) {
                if (selected(raw, filters)) {
                    // The base side's blobs, fetched in one batch (a partial clone lacks them),
                    // not one round trip per file. A pure rename or mode change needs none.
                    const bool sameBytes =
                        raw.before && raw.after && raw.before->id == raw.after->id;
                    if (!sameBytes && raw.before && raw.before->kind != EntryKind::Gitlink) {
                        wanted.push_back(raw.before->id);
                    }
                    if (!sameBytes && raw.after && raw.afterNode == 0 &&
                        raw.after->kind != EntryKind::Gitlink) {
                        wanted.push_back(raw.after->id);
                    }
                    selectedChanges.push_back(std::move(raw));
                }
            }
            impl_->store->prefetchBlobs(wanted);
            for (const RawChange& raw : selectedChanges) {
                std::string before;
                std::string after;
                const bool contentDiffers =
                    raw.before && raw.after ? raw.before->id != raw.after->id : true;
                if (contentDiffers && raw.before && raw.before->kind != EntryKind::Gitlink) {
                    before = impl_->store->readBlob(raw.before->id, limit);
                }
                if (contentDiffers && raw.after && raw.after->kind != EntryKind::Gitlink) {
                    if (raw.afterNode == 0) {
                        after = impl_->store->readBlob(raw.after->id, limit);
                    } else {
                        const auto attributes = impl_->overlay.attributes(raw.afterNode);
                        after = attributes.type == NodeType::Symlink
                                    ? attributes.symlinkTarget
                                    : readContent(impl_->overlay.contentPath(raw.afterNode), limit);
                    }
                }
                appendUnifiedDiff(out, raw, before, after);
                if (out.size() > limit) {
                    throw ChangeSetError(ChangeSetErrc::Failed,
                                         "the diff would exceed " + std::to_string(limit) +
                                             " bytes (max_diff_bytes): diff fewer paths");
                }
            }
        });
        return out;
    });
}

size_t ChangeSet::reset(const std::vector<std::string>& paths) {
    const std::vector<std::string> filters = normalizedPaths(paths);
    const bool everything = filters.empty() || std::any_of(filters.begin(), filters.end(),
                                                           [](const auto& f) { return f.empty(); });
    return translated("reset", [&] {
        size_t count = 0;
        impl_->view.mutateExclusively([&] {
            impl_->overlay.transaction([&] {
                const store::ObjectId baseRoot = impl_->rootOf(impl_->base());
                const std::vector<RawChange> before = impl_->walker().all(baseRoot);
                std::set<std::string> targets;
                for (const RawChange& raw : before) {
                    if (!selected(raw, filters)) {
                        continue;
                    }
                    ++count;
                    // Both ends of a rename come back together: the old path reappears.
                    if (!raw.oldPath.empty()) {
                        targets.insert(raw.oldPath);
                        targets.insert(raw.path);
                    }
                }
                if (everything) {
                    impl_->clearOverlay();
                    return;
                }
                targets.insert(filters.begin(), filters.end());
                for (const std::string& target : targets) {
                    impl_->restore(target, baseRoot);
                }
                if (impl_->walker().all(baseRoot).empty()) {
                    impl_->clearOverlay();  // back to nothing materialized: O(1) status again
                }
            });
        });
        return count;
    });
}

store::ObjectId ChangeSet::commit(const CommitRequest& request) {
    const std::string message = cleanedMessage(request.message);
    return translated("commit", [&] {
        const int64_t now = ::time(nullptr);
        const std::optional<store::GitSignature> configured = impl_->store->configuredIdentity();
        std::optional<Signature> author = request.author ? request.author : impl_->options.author;
        if (!author && configured) {
            author = Signature{configured->name, configured->email};
        }
        if (!author || author->name.empty() || author->email.empty()) {
            throw ChangeSetError(ChangeSetErrc::Failed,
                                 "no author for the commit: give one (megactl commit --author "
                                 "\"Name <email>\"), set `author` in the mount's configuration, "
                                 "or set user.name and user.email in git config");
        }
        store::NewCommit commit;
        commit.author =
            store::GitSignature{author->name, author->email, now, utcOffsetMinutes(now)};
        commit.committer = commit.author;
        if (configured) {
            commit.committer.name = configured->name;
            commit.committer.email = configured->email;
        }
        commit.message = message;
        store::ObjectId created;
        impl_->view.mutateExclusively([&] {
            const store::ObjectId base = impl_->base();
            const store::ObjectId baseRoot = impl_->rootOf(base);
            if (impl_->walker().all(baseRoot).empty()) {
                throw ChangeSetError(
                    ChangeSetErrc::NothingToCommit,
                    "nothing to commit: the mount shows commit " + base.hex() + " unchanged");
            }
            CommitBuilder builder(impl_->overlay, *impl_->store);
            const std::optional<store::ObjectId> subtree =
                builder.directoryTree(overlay::kRootNode);
            const store::ObjectId mountTree = subtree ? *subtree : impl_->store->writeTree({});
            commit.tree = builder.graft(impl_->store->treeAtPath(base, ""), impl_->options.subPath,
                                        mountTree);
            commit.parents = {base};
            created = impl_->store->writeCommit(commit);
            const std::string name =
                impl_->options.mountName.empty() ? "mount" : impl_->options.mountName;
            impl_->store->updateRef("refs/mega-fuse/" + name, created,
                                    "mega-fuse: commit on " + base.hex());
            impl_->overlay.transaction([&] {
                impl_->overlay.setBaseCommit(created);
                impl_->clearOverlay();
            });
        });
        return created;
    });
}

PushResult ChangeSet::push(const std::string& remoteRef) {
    return translated("push", [&] {
        std::string ref = remoteRef;
        if (ref.empty()) {
            const std::string& revision = impl_->options.revision;
            if (revision.empty() || revision == "HEAD" || looksLikeCommitId(revision)) {
                throw ChangeSetError(
                    ChangeSetErrc::NotFound,
                    "the mount's revision '" + revision +
                        "' names no branch to push to: give the ref (e.g. refs/heads/main)");
            }
            ref = revision;
        }
        if (!ref.starts_with("refs/")) {
            ref = "refs/heads/" + ref;
        }
        PushResult result;
        result.remoteRef = ref;
        result.commit = impl_->base();
        result.serverMessage =
            impl_->store->push(result.commit, ref, impl_->options.pushTimeout).serverMessage;
        return result;
    });
}

store::ObjectId ChangeSet::checkout(const std::string& revision, bool force) {
    return translated("checkout", [&] {
        const store::ObjectId target = impl_->store->resolveCommit(revision);
        const store::ObjectId newRoot = impl_->rootOf(target);
        impl_->view.mutateExclusively([&] {
            impl_->overlay.transaction([&] {
                const store::ObjectId oldRoot = impl_->rootOf(impl_->base());
                Checkout checkout(impl_->overlay, *impl_->store);
                const std::vector<std::string> conflicts = checkout.conflicts(oldRoot, newRoot);
                if (!conflicts.empty() && !force) {
                    std::string message = "checkout of '" + revision +
                                          "' would overwrite local changes (use force to drop "
                                          "them):";
                    for (const auto& path : conflicts) {
                        message += "\n" + path;
                    }
                    throw ChangeSetError(ChangeSetErrc::Conflict, message);
                }
                checkout.apply(oldRoot, newRoot);
                impl_->overlay.setBaseCommit(target);
                if (impl_->walker().all(newRoot).empty()) {
                    impl_->clearOverlay();
                }
            });
        });
        return target;
    });
}

}  // namespace megafuse::changes
