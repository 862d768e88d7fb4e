// Git: the git command line for tests. git() fails the test (HarnessError with git's stderr) when
// git fails; commits are deterministic (fixed names, emails, dates) and no user or system config
// leaks in, so a repository built twice has the same ids.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/Subprocess.hpp"

namespace megafuse::test {

struct GitOptions {
    std::string stdinData;
    std::map<std::string, std::string> extraEnvironment;  // on top of gitEnvironment()
    std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

// The environment every harness git runs with: GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null,
// fixed author/committer identity and dates (overridable per call, e.g. GIT_COMMITTER_DATE).
std::map<std::string, std::string> gitEnvironment();

// Runs `git -C dir args...`; throws HarnessError naming the command and git's stderr on failure.
// Returns stdout.
std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args,
                const GitOptions& options = {});

// Like git() but stdout without its trailing newline: for rev-parse and friends.
std::string gitLine(const std::filesystem::path& dir, const std::vector<std::string>& args,
                    const GitOptions& options = {});

// Runs git and returns the result whatever it is (for commands expected to fail).
SubprocessResult tryGit(const std::filesystem::path& dir, const std::vector<std::string>& args,
                        const GitOptions& options = {});

// Ids of the objects of one type ("blob", "tree", "commit", "tag") present in a repository.
// In a partial clone the promised-but-missing objects are not listed: this counts laziness.
std::set<std::string> localObjects(const std::filesystem::path& repo, std::string_view type);

// The blob ids of every file and symlink of rev:subPath, recursively or one level ("ls-tree").
std::set<std::string> blobsOfTree(const std::filesystem::path& repo, const std::string& treeish,
                                  bool recursive);

// Publishes a bare copy of origin (all branches and tags) at dest, configured the way a server
// must be for partial clone and lazy fetches (uploadpack.allowFilter, allowAnySHA1InWant).
void publishBare(const std::filesystem::path& origin, const std::filesystem::path& dest);

// Sets the two upload-pack options above on an existing repository (for file:// sources).
void allowPartialClone(const std::filesystem::path& repo);

}  // namespace megafuse::test
