// RepoBuilder: plumbing only — porcelain would interpret names, follow links or need a work tree.
#include "support/RepoBuilder.hpp"

#include "support/Git.hpp"

namespace megafuse::test {
namespace {

GitOptions withStdin(std::string_view bytes) {
    GitOptions options;
    options.stdinData = std::string(bytes);
    return options;
}

}  // namespace

RepoBuilder::RepoBuilder(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    git(dir_, {"init", "--quiet", "--initial-branch=main"});
}

std::string RepoBuilder::stage(const std::string& mode, const std::string& id,
                               const std::string& path) {
    git(dir_, {"update-index", "--add", "--cacheinfo", mode + "," + id + "," + path});
    return id;
}

std::string RepoBuilder::writeFile(const std::string& path, std::string_view bytes,
                                   bool executable) {
    auto id = gitLine(dir_, {"hash-object", "-w", "--no-filters", "--stdin"}, withStdin(bytes));
    return stage(executable ? "100755" : "100644", id, path);
}

std::string RepoBuilder::writeFileFrom(const std::string& path, const std::filesystem::path& source,
                                       bool executable) {
    auto id = gitLine(dir_, {"hash-object", "-w", "--no-filters", "--", source.string()});
    return stage(executable ? "100755" : "100644", id, path);
}

std::string RepoBuilder::symlink(const std::string& path, std::string_view target) {
    auto id = gitLine(dir_, {"hash-object", "-w", "--no-filters", "--stdin"}, withStdin(target));
    return stage("120000", id, path);
}

void RepoBuilder::gitlink(const std::string& path, const std::string& commitId) {
    stage("160000", commitId, path);
}

void RepoBuilder::remove(const std::string& path) {
    git(dir_, {"rm", "-r", "--cached", "--quiet", "--", path});
}

std::string RepoBuilder::commit(const std::string& message) {
    ++commits_;
    const std::string date = std::to_string(1700000000 + 60 * commits_) + " +0000";
    GitOptions options;
    options.extraEnvironment = {{"GIT_AUTHOR_DATE", date}, {"GIT_COMMITTER_DATE", date}};
    const auto tree = gitLine(dir_, {"write-tree"});
    std::vector<std::string> args{"commit-tree", tree, "-m", message};
    if (auto head = tryGit(dir_, {"rev-parse", "--verify", "--quiet", "HEAD"}); head.ok()) {
        args.insert(args.end(), {"-p", "HEAD"});
    }
    auto id = gitLine(dir_, args, options);
    git(dir_, {"update-ref", "-m", message, "HEAD", id});
    return id;
}

void RepoBuilder::branch(const std::string& name, const std::string& startPoint) {
    git(dir_, {"branch", name, startPoint});
}

void RepoBuilder::switchTo(const std::string& name) {
    git(dir_, {"symbolic-ref", "HEAD", "refs/heads/" + name});
    git(dir_, {"read-tree", "refs/heads/" + name});
}

void RepoBuilder::lightweightTag(const std::string& name, const std::string& target) {
    git(dir_, {"tag", name, target});
}

void RepoBuilder::annotatedTag(const std::string& name, const std::string& target,
                               const std::string& message) {
    git(dir_, {"tag", "--annotate", "-m", message, name, target});
}

std::string RepoBuilder::revParse(const std::string& revision) const {
    return gitLine(dir_, {"rev-parse", "--verify", "--quiet", revision + "^{commit}"});
}

}  // namespace megafuse::test
