// Git: every harness git call goes through runSubprocess with the deterministic environment.
#include "support/Git.hpp"

#include <sstream>

#include "support/HarnessError.hpp"

namespace megafuse::test {
namespace {

std::string commandLine(const std::filesystem::path& dir, const std::vector<std::string>& args) {
    std::string line = "git -C " + dir.string();
    for (const auto& arg : args) {
        line += " " + printable(arg);
    }
    return line;
}

}  // namespace

std::map<std::string, std::string> gitEnvironment() {
    return {
        {"GIT_CONFIG_NOSYSTEM", "1"},
        {"GIT_CONFIG_GLOBAL", "/dev/null"},
        {"GIT_AUTHOR_NAME", "Mega Fuse Test"},
        {"GIT_AUTHOR_EMAIL", "test@mega-fuse.invalid"},
        {"GIT_AUTHOR_DATE", "1700000000 +0000"},
        {"GIT_COMMITTER_NAME", "Mega Fuse Test"},
        {"GIT_COMMITTER_EMAIL", "test@mega-fuse.invalid"},
        {"GIT_COMMITTER_DATE", "1700000000 +0000"},
        {"GIT_TERMINAL_PROMPT", "0"},
        // Paths with odd bytes are arguments, never patterns.
        {"GIT_LITERAL_PATHSPECS", "1"},
    };
}

SubprocessResult tryGit(const std::filesystem::path& dir, const std::vector<std::string>& args,
                        const GitOptions& options) {
    std::vector<std::string> argv{"git", "-C", dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions run;
    run.extraEnvironment = gitEnvironment();
    for (const auto& [key, value] : options.extraEnvironment) {
        run.extraEnvironment[key] = value;
    }
    run.stdinData = options.stdinData;
    run.timeout = options.timeout;
    run.maxOutputBytes = 256U << 20U;
    return runSubprocess(argv, run);
}

std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args,
                const GitOptions& options) {
    auto result = tryGit(dir, args, options);
    if (!result.ok()) {
        throw HarnessError(commandLine(dir, args) + " failed: " + result.describe());
    }
    return std::move(result.out);
}

std::string gitLine(const std::filesystem::path& dir, const std::vector<std::string>& args,
                    const GitOptions& options) {
    std::string out = git(dir, args, options);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

std::set<std::string> localObjects(const std::filesystem::path& repo, std::string_view type) {
    std::istringstream lines(git(
        repo, {"cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"}));
    std::set<std::string> ids;
    std::string id;
    std::string objectType;
    while (lines >> id >> objectType) {
        if (objectType == type) {
            ids.insert(id);
        }
    }
    return ids;
}

std::set<std::string> blobsOfTree(const std::filesystem::path& repo, const std::string& treeish,
                                  bool recursive) {
    std::vector<std::string> args{"ls-tree", "-z"};
    if (recursive) {
        args.emplace_back("-r");
    }
    args.push_back(treeish);
    const std::string out = git(repo, args);
    std::set<std::string> ids;
    size_t start = 0;
    while (start < out.size()) {
        size_t end = out.find('\0', start);
        if (end == std::string::npos) {
            end = out.size();
        }
        // "<mode> SP <type> SP <id> TAB <path>"
        std::istringstream entry(out.substr(start, end - start));
        std::string mode;
        std::string type;
        std::string id;
        entry >> mode >> type >> id;
        if (type == "blob") {
            ids.insert(id);
        }
        start = end + 1;
    }
    return ids;
}

void allowPartialClone(const std::filesystem::path& repo) {
    git(repo, {"config", "uploadpack.allowFilter", "true"});
    git(repo, {"config", "uploadpack.allowAnySHA1InWant", "true"});
}

void publishBare(const std::filesystem::path& origin, const std::filesystem::path& dest) {
    std::filesystem::create_directories(dest.parent_path());
    git(dest.parent_path(),
        {"clone", "--quiet", "--bare", "--no-hardlinks", "--", origin.string(), dest.string()});
    // A bare clone keeps a remote pointing back at origin; a server has no business with it.
    git(dest, {"remote", "remove", "origin"});
    allowPartialClone(dest);
}

}  // namespace megafuse::test
