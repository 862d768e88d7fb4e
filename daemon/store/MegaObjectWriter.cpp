// MegaObjectWriter: the write side of MegaObjectStore. Mega's REST API cannot take objects, so a
// writable mount's commits go into a local bare repository of the source (a GitObjectStore over
// it does the object work) and reach the server with `git push` to `{base}{path}.git`, Git's
// receive-pack. What push needs locally was measured with real git (docs/mega-source.md,
// "Writable mounts and push"): the base commit object (a shallow, tree-less fetch) and the base
// trees of every directory on a changed path, so pack-objects marks the unchanged subtrees as
// the server's without ever opening them.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "store/GitCli.hpp"
#include "store/GitObjectStore.hpp"
#include "store/Libgit2.hpp"
#include "store/MegaObjectStore.hpp"

namespace megafuse::store {
namespace {

// Commits written but not pushed yet, walked back to the served one; a bound against a
// corrupt local repository whose history loops through objects we did not write.
constexpr int kMaxLocalCommits = 100'000;
constexpr int kMaxTreeDepth = 4096;

struct LocalCommit {
    ObjectId tree;
    std::vector<ObjectId> parents;
};

std::optional<LocalCommit> readLocalCommit(const std::filesystem::path& repository,
                                           const ObjectId& id) {
    // A fresh handle: git fetch may just have added a pack the pooled handles do not see.
    git_repository* rawRepo = nullptr;
    if (git_repository_open_bare(&rawRepo, repository.c_str()) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("open " + repository.string()));
    }
    GitRepositoryPtr repo(rawRepo);
    git_oid oid = toGitOid(id);
    git_commit* raw = nullptr;
    if (git_commit_lookup(&raw, repo.get(), &oid) != 0) {
        return std::nullopt;
    }
    GitCommitPtr commit(raw);
    LocalCommit result;
    result.tree = fromGitOid(*git_commit_tree_id(commit.get()));
    for (unsigned i = 0; i < git_commit_parentcount(commit.get()); ++i) {
        result.parents.push_back(fromGitOid(*git_commit_parent_id(commit.get(), i)));
    }
    return result;
}

// Writes an object of these bytes into repository's object database as they are: libgit2's
// commit functions want the parents present, and the served commit is not (yet).
ObjectId writeRawObject(const std::filesystem::path& repository, std::string_view bytes,
                        git_object_t type) {
    git_repository* rawRepo = nullptr;
    if (git_repository_open_bare(&rawRepo, repository.c_str()) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("open " + repository.string()));
    }
    GitRepositoryPtr repo(rawRepo);
    git_odb* rawOdb = nullptr;
    if (git_repository_odb(&rawOdb, repo.get()) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("open objects of " + repository.string()));
    }
    GitOdbPtr odb(rawOdb);
    git_oid oid;
    if (git_odb_write(&oid, odb.get(), bytes.data(), bytes.size(), type) != 0) {
        throw StoreError(StoreErrc::Io,
                         gitErrorText(std::string("write ") + git_object_type2string(type) +
                                      " into " + repository.string()));
    }
    return fromGitOid(oid);
}

// The commits a shallow fetch left as the boundary of the local history.
std::set<ObjectId> shallowCommits(const std::filesystem::path& repository) {
    std::set<ObjectId> commits;
    std::ifstream in(repository / "shallow");
    for (std::string line; std::getline(in, line);) {
        if (auto id = ObjectId::fromHex(line)) {
            commits.insert(*id);
        }
    }
    return commits;
}

std::string signatureLine(const GitSignature& who, const char* role) {
    for (const std::string* text : {&who.name, &who.email}) {
        if (text->find_first_of("<>\n") != std::string::npos) {
            throw StoreError(StoreErrc::Corrupt, std::string("invalid ") + role + " '" + who.name +
                                                     " <" + who.email + ">'");
        }
    }
    // Git's zone: +hhmm, from minutes east of UTC (bounded: a zone is within a day).
    const int offset = std::clamp(who.offsetMinutes, -(24 * 60 - 1), 24 * 60 - 1);
    const int magnitude = offset < 0 ? -offset : offset;
    char zone[16];
    (void)std::snprintf(zone, sizeof zone, "%c%02d%02d", offset < 0 ? '-' : '+', magnitude / 60,
                        magnitude % 60);
    return who.name + " <" + who.email + "> " + std::to_string(who.time) + " " + zone;
}

}  // namespace

std::shared_ptr<ObjectStore> MegaObjectStore::localStore(bool create) {
    std::lock_guard lock(localMutex_);
    if (local_) {
        return local_;
    }
    std::error_code ec;
    const bool exists = std::filesystem::exists(localPath_ / "HEAD", ec);
    if (!exists && !create) {
        return nullptr;  // a read-only mount never makes one
    }
    ensureLibgit2();
    if (!exists) {
        std::filesystem::create_directories(localPath_.parent_path(), ec);
        git_repository* raw = nullptr;
        // Re-initializing one another process just made is harmless.
        if (git_repository_init(&raw, localPath_.c_str(), /*is_bare=*/1) != 0) {
            throw StoreError(StoreErrc::Io, gitErrorText("create " + localPath_.string()));
        }
        GitRepositoryPtr owned(raw);
    }
    SourceSpec spec;
    spec.kind = SourceSpec::Kind::LocalRepository;
    spec.location = localPath_.string();
    local_ = std::make_shared<GitObjectStore>(spec, options_, contentCache_, trees_);
    return local_;
}

bool MegaObjectStore::isLocalCommit(const ObjectId& commit) {
    const auto local = localStore(false);
    if (!local) {
        return false;
    }
    try {
        (void)local->commitTime(commit);
        return true;
    } catch (const StoreError&) {
        return false;
    }
}

ObjectId MegaObjectStore::writeBlob(std::string_view bytes) {
    return localStore(true)->writeBlob(bytes);
}

ObjectId MegaObjectStore::writeBlobFromFile(const std::filesystem::path& file) {
    return localStore(true)->writeBlobFromFile(file);
}

ObjectId MegaObjectStore::writeTree(const std::vector<TreeEntry>& entries) {
    return localStore(true)->writeTree(entries);
}

ObjectId MegaObjectStore::writeCommit(const NewCommit& commit) {
    (void)localStore(true);
    std::string bytes = "tree " + commit.tree.hex() + "\n";
    for (const ObjectId& parent : commit.parents) {
        bytes += "parent " + parent.hex() + "\n";
    }
    bytes += "author " + signatureLine(commit.author, "author") + "\n";
    bytes += "committer " + signatureLine(commit.committer, "committer") + "\n\n";
    bytes += commit.message;
    return writeRawObject(localPath_, bytes, GIT_OBJECT_COMMIT);
}

void MegaObjectStore::updateRef(const std::string& ref, const ObjectId& commit,
                                const std::string& logMessage) {
    localStore(true)->updateRef(ref, commit, logMessage);
}

std::optional<GitSignature> MegaObjectStore::configuredIdentity() {
    return localStore(true)->configuredIdentity();
}

std::string MegaObjectStore::pushUrl() const {
    return source_.location + source_.megaPath + ".git";
}

std::map<std::string, std::string> MegaObjectStore::gitEnvironment() const {
    if (bearerToken_.empty()) {
        return {};
    }
    // In git's environment, not its command line: /proc/PID/environ is readable by this uid
    // only, /proc/PID/cmdline by everyone.
    return {{"GIT_CONFIG_COUNT", "1"},
            {"GIT_CONFIG_KEY_0", "http.extraHeader"},
            {"GIT_CONFIG_VALUE_0", "Authorization: Bearer " + bearerToken_}};
}

void MegaObjectStore::ensureTreeLocal(const ObjectId& id) {
    const auto local = localStore(true);
    if (local->hasBlob(id)) {  // any object kind: an existence check in the object database
        return;
    }
    const auto tree = readTree(id);  // the tree cache, or the server (verified)
    const ObjectId written = local->writeTree(tree->entries());
    if (written != id) {
        throw StoreError(StoreErrc::Corrupt,
                         "base tree " + id.hex() + " from " + displayName_ +
                             " cannot be rebuilt locally (it hides entries with modes Git never "
                             "writes); push is not possible from this mount");
    }
}

void MegaObjectStore::copyBaseTrees(const ObjectId& newTree, const ObjectId& baseTree, int depth) {
    if (newTree == baseTree || depth > kMaxTreeDepth) {
        return;
    }
    ensureTreeLocal(baseTree);
    // A directory moved here from elsewhere is not local; its old parent changed too and is
    // copied on its own path, which is what lets git skip it.
    if (!localStore(true)->hasBlob(newTree)) {
        return;
    }
    const auto now = readTree(newTree);
    const auto before = readTree(baseTree);
    for (const TreeEntry& entry : now->entries()) {
        if (entry.kind != EntryKind::Directory) {
            continue;
        }
        const TreeEntry* old = before->find(entry.name);
        if (old != nullptr && old->kind == EntryKind::Directory && old->id != entry.id) {
            copyBaseTrees(entry.id, old->id, depth + 1);
        }
    }
}

PushOutcome MegaObjectStore::push(const ObjectId& commit, const std::string& remoteRef,
                                  std::chrono::milliseconds timeout) {
    std::lock_guard pushLock(pushMutex_);
    if (source_.megaPath == "/") {
        throw StoreError(StoreErrc::Unsupported,
                         displayName_ +
                             ": the monorepo's root has no Git endpoint to push to ({base}{path}"
                             ".git); mount a repository path of it to push");
    }
    if (!isLocalCommit(commit)) {
        throw StoreError(StoreErrc::NotFound, "commit " + commit.hex() +
                                                  " was not written by a mount of " + displayName_);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
        return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now()),
                        std::chrono::milliseconds(1));
    };
    const std::string url = pushUrl();
    const std::string shown = redactCredentials(url);
    const std::string repo = localPath_.string();
    const auto environment = gitEnvironment();

    // The base commit object, shallow and without trees: git push must know the server's
    // commit to send only what is new. Fetched into a scratch repository and copied from there:
    // in the local repository, the fetch's connectivity check would walk its refs (our commits)
    // and, the filter having made the server a promisor, fetch every unchanged tree they name.
    auto fetchBase = [&](const ObjectId& base) {
        const std::filesystem::path scratch =
            localPath_.parent_path() /
            (localPath_.filename().string() + ".fetch-" + std::to_string(::getpid()));
        struct RemoveScratch {
            std::filesystem::path path;
            ~RemoveScratch() {
                std::error_code ec;
                std::filesystem::remove_all(path, ec);
            }
        } removeScratch{scratch};
        std::error_code ec;
        std::filesystem::remove_all(scratch, ec);
        if (auto init = runGit({"init", "--quiet", "--bare", scratch.string()}, left());
            !init.ok()) {
            throw StoreError(StoreErrc::Io,
                             "cannot create " + scratch.string() + ": " + init.describe());
        }
        auto fetch = [&](const std::string& what) {
            return runGitWithEnvironment({"-C", scratch.string(), "fetch", "--quiet", "--no-tags",
                                          "--depth=1", "--filter=tree:0", url, what},
                                         left(), environment);
        };
        auto result = fetch(base.hex());
        if (!result.ok() && !result.timedOut) {
            // A server that refuses ids no ref names: its branch is the base unless someone
            // pushed first (then git push below says so).
            (void)fetch(remoteRef);
        }
        if (result.timedOut) {
            throw StoreError(StoreErrc::Timeout, "fetch of base commit " + base.hex() + " from " +
                                                     shown + ": " + result.describe());
        }
        auto raw = runGit({"-C", scratch.string(), "cat-file", "commit", base.hex()}, left());
        if (!raw.ok()) {
            throw StoreError(StoreErrc::FetchFailed,
                             "push of " + commit.hex() + " to " + shown +
                                 ": cannot fetch its base commit " + base.hex() + ":\n" +
                                 redactCredentials(result.err + result.out));
        }
        if (writeRawObject(localPath_, raw.out, GIT_OBJECT_COMMIT) != base) {
            throw StoreError(StoreErrc::Corrupt, "base commit " + base.hex() + " from " + shown +
                                                     " does not hash to its id");
        }
        // Its parents stay unknown: the local history is shallow at the served commit.
        std::ofstream(localPath_ / "shallow", std::ios::app) << base.hex() << "\n";
    };

    // Every local commit down to the served one: the base trees of the directories each one
    // changed (the old root, a/, a/b/ for a change in a/b/f) go into the local repository.
    ObjectId current = commit;
    for (int walked = 0; walked < kMaxLocalCommits; ++walked) {
        const auto mine = readLocalCommit(localPath_, current);
        if (!mine || mine->parents.empty()) {
            break;
        }
        const ObjectId parent = mine->parents.front();
        std::optional<LocalCommit> base = readLocalCommit(localPath_, parent);
        bool fetched = false;
        if (!base) {
            fetchBase(parent);
            base = readLocalCommit(localPath_, parent);
            if (!base) {
                throw StoreError(StoreErrc::Corrupt, "base commit " + parent.hex() +
                                                         " is not readable after its fetch");
            }
            fetched = true;
        }
        copyBaseTrees(mine->tree, base->tree, 0);
        if (fetched || shallowCommits(localPath_).count(parent) != 0) {
            break;  // the server's commit
        }
        current = parent;
    }

    // git's own report (stderr) is what the user reads, as for a Git source: "To <url>", one
    // line per ref, and on a refusal " ! [rejected] ..." with the server's "remote: ..." lines.
    auto result = runGitWithEnvironment(
        {"-C", repo, "push", "--no-verify", "--", url, commit.hex() + ":" + remoteRef}, left(),
        environment);
    PushOutcome outcome{pushReport(result, commit, remoteRef, shown)};
    spdlog::info("{}: pushed {} to {} at {}", displayName_, commit.hex(), remoteRef, shown);
    return outcome;
}

}  // namespace megafuse::store
