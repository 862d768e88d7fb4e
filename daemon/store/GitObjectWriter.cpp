// GitObjectWriter: the write side of GitObjectStore — blobs, trees, commits and refs written with
// libgit2 into the repository it reads, and push through the git program (the only way to speak
// receive-pack over every transport, with the server's own messages).
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "store/GitCli.hpp"
#include "store/GitObjectStore.hpp"
#include "store/Libgit2.hpp"

namespace megafuse::store {
namespace {

using GitConfigPtr = std::unique_ptr<git_config, GitDeleter<git_config, git_config_free>>;
using GitReferencePtr =
    std::unique_ptr<git_reference, GitDeleter<git_reference, git_reference_free>>;
using GitRemotePtr = std::unique_ptr<git_remote, GitDeleter<git_remote, git_remote_free>>;
using GitSignaturePtr =
    std::unique_ptr<git_signature, GitDeleter<git_signature, git_signature_free>>;

bool validEntryName(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos;
}

// Git's tree order: byte order of names, a tree's name compared as if it ended in '/'.
bool gitTreeOrder(const TreeEntry& a, const TreeEntry& b) {
    const size_t common = std::min(a.name.size(), b.name.size());
    if (int c = a.name.compare(0, common, b.name, 0, common); c != 0) {
        return c < 0;
    }
    auto next = [common](const TreeEntry& e) -> unsigned {
        if (e.name.size() > common) {
            return static_cast<unsigned char>(e.name[common]);
        }
        return e.kind == EntryKind::Directory ? '/' : 0;
    };
    return next(a) < next(b);
}

GitSignaturePtr makeSignature(const GitSignature& who, const char* role) {
    git_signature* raw = nullptr;
    if (git_signature_new(&raw, who.name.c_str(), who.email.c_str(), who.time, who.offsetMinutes) !=
        0) {
        throw StoreError(StoreErrc::Corrupt, gitErrorText(std::string("invalid ") + role + " '" +
                                                          who.name + " <" + who.email + ">'"));
    }
    return GitSignaturePtr(raw);
}

}  // namespace

ObjectId GitObjectStore::writeBlob(std::string_view bytes) {
    auto lease = pool_->acquire();
    git_oid oid;
    if (git_odb_write(&oid, lease.odb(), bytes.data(), bytes.size(), GIT_OBJECT_BLOB) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("write blob into " + repoPath_.string()));
    }
    return fromGitOid(oid);
}

ObjectId GitObjectStore::writeBlobFromFile(const std::filesystem::path& file) {
    auto lease = pool_->acquire();
    git_oid oid;
    // Streams the file into the object database (libgit2 reads it in chunks).
    if (git_blob_create_from_disk(&oid, lease.repo(), file.c_str()) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("write blob from " + file.string()));
    }
    return fromGitOid(oid);
}

ObjectId GitObjectStore::writeTree(const std::vector<TreeEntry>& entries) {
    // Serialized here rather than with git_treebuilder: libgit2's strict object creation checks
    // that every entry's object exists, and a partial clone lacks most blobs by design.
    std::vector<TreeEntry> sorted = entries;
    std::sort(sorted.begin(), sorted.end(), gitTreeOrder);
    std::string bytes;
    for (size_t i = 0; i < sorted.size(); ++i) {
        const TreeEntry& entry = sorted[i];
        if (!validEntryName(entry.name)) {
            throw StoreError(StoreErrc::Corrupt,
                             "cannot write a tree entry named '" + entry.name + "'");
        }
        if (i > 0 && sorted[i - 1].name == entry.name) {
            throw StoreError(StoreErrc::Corrupt,
                             "cannot write a tree with two entries named '" + entry.name + "'");
        }
        bytes += fmt::format("{:o}", gitModeOf(entry.kind));  // "40000": tree objects drop the 0
        bytes += ' ';
        bytes += entry.name;
        bytes += '\0';
        bytes.append(reinterpret_cast<const char*>(entry.id.raw().data()), ObjectId::kRawSize);
    }
    auto lease = pool_->acquire();
    git_oid oid;
    if (git_odb_write(&oid, lease.odb(), bytes.data(), bytes.size(), GIT_OBJECT_TREE) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("write tree into " + repoPath_.string()));
    }
    return fromGitOid(oid);
}

ObjectId GitObjectStore::writeCommit(const NewCommit& commit) {
    GitSignaturePtr author = makeSignature(commit.author, "author");
    GitSignaturePtr committer = makeSignature(commit.committer, "committer");
    auto lease = pool_->acquire();
    git_oid treeOid = toGitOid(commit.tree);
    git_tree* rawTree = nullptr;
    if (git_tree_lookup(&rawTree, lease.repo(), &treeOid) != 0) {
        throw StoreError(StoreErrc::NotFound, gitErrorText("tree " + commit.tree.hex()));
    }
    GitTreePtr tree(rawTree);
    std::vector<GitCommitPtr> parents;
    std::vector<const git_commit*> parentPointers;
    for (const ObjectId& parent : commit.parents) {
        git_oid parentOid = toGitOid(parent);
        git_commit* raw = nullptr;
        if (git_commit_lookup(&raw, lease.repo(), &parentOid) != 0) {
            throw StoreError(StoreErrc::NotFound, gitErrorText("parent commit " + parent.hex()));
        }
        parents.emplace_back(raw);
        parentPointers.push_back(raw);
    }
    git_oid oid;
    if (git_commit_create(&oid, lease.repo(), nullptr, author.get(), committer.get(), nullptr,
                          commit.message.c_str(), tree.get(), parentPointers.size(),
                          parentPointers.data()) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("write commit into " + repoPath_.string()));
    }
    return fromGitOid(oid);
}

void GitObjectStore::updateRef(const std::string& ref, const ObjectId& commit,
                               const std::string& logMessage) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(commit);
    git_reference* raw = nullptr;
    if (git_reference_create(&raw, lease.repo(), ref.c_str(), &oid, /*force=*/1,
                             logMessage.c_str()) != 0) {
        throw StoreError(StoreErrc::Io,
                         gitErrorText("update " + ref + " in " + repoPath_.string()));
    }
    GitReferencePtr owned(raw);
}

PushOutcome GitObjectStore::push(const ObjectId& commit, const std::string& remoteRef,
                                 std::chrono::milliseconds timeout) {
    std::string remote = source_.location;
    if (!isRemote()) {
        auto lease = pool_->acquire();
        git_remote* raw = nullptr;
        if (git_remote_lookup(&raw, lease.repo(), "origin") != 0) {
            throw StoreError(StoreErrc::Unsupported,
                             displayName_ +
                                 " is a local repository with no 'origin' remote: nowhere to "
                                 "push (add one with `git remote add origin URL`)");
        }
        GitRemotePtr owned(raw);
        remote = "origin";
    }
    // git's own report (stderr) is what the user reads: "To <url>", one line per ref, and on a
    // refusal " ! [rejected] ... (fetch first)" or " ! [remote rejected] ... (hook declined)"
    // plus the server's "remote: ..." lines. The base commit is on the server, so only the new
    // objects are packed: a partial clone fetches nothing here.
    auto result = runGit({"-C", repoPath_.string(), "push", "--no-verify", "--", remote,
                          commit.hex() + ":" + remoteRef},
                         timeout);
    const std::string shown = redactCredentials(displayName_);
    PushOutcome outcome{pushReport(result, commit, remoteRef, shown)};
    spdlog::info("{}: pushed {} to {}", shown, commit.hex(), remoteRef);
    return outcome;
}

std::optional<GitSignature> GitObjectStore::configuredIdentity() {
    auto lease = pool_->acquire();
    git_config* raw = nullptr;
    // The repository's configuration falls back to the user's global and the system's files.
    if (git_repository_config_snapshot(&raw, lease.repo()) != 0) {
        return std::nullopt;
    }
    GitConfigPtr config(raw);
    const char* name = nullptr;
    const char* email = nullptr;
    if (git_config_get_string(&name, config.get(), "user.name") != 0 ||
        git_config_get_string(&email, config.get(), "user.email") != 0) {
        return std::nullopt;
    }
    GitSignature who;
    who.name = name;
    who.email = email;
    return who;
}

}  // namespace megafuse::store
