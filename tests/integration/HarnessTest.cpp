// HarnessTest: the harness checked against plain git before it judges mega-fused (servers, oracle,
// teardown), plus the watchdog against a hung daemon (the one test here that needs the binary).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>

#include "MountFixture.hpp"
#include "support/ChildProcess.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"
#include "support/Network.hpp"
#include "support/SampleRepo.hpp"
#include "support/Sources.hpp"
#include "support/TempDir.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

// A second, independent oracle: the index machinery's checkout instead of git archive.
void checkoutWithIndex(const std::filesystem::path& repo, const std::string& revision,
                       const std::filesystem::path& dest) {
    std::filesystem::create_directories(dest);
    GitOptions options;
    options.extraEnvironment = {{"GIT_INDEX_FILE", (dest.parent_path() / "oracle.index").string()},
                                {"GIT_WORK_TREE", dest.string()}};
    git(repo, {"read-tree", revision}, options);
    git(repo, {"checkout-index", "--all"}, options);
}

TEST(TempDir, RemovesItselfAndEverythingBelow) {
    std::filesystem::path path;
    {
        TempDir dir;
        path = dir.path();
        dir.makeDir("x/y/z");
        std::ofstream(dir / "x/y/z/file") << "bytes";
        ::chmod((dir / "x/y").c_str(), 0500);  // removal must not depend on permissions
        EXPECT_TRUE(std::filesystem::is_directory(path));
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Mounts, FindsTheRootMount) {
    auto root = findMount("/");
    ASSERT_TRUE(root.has_value());
    EXPECT_FALSE(root->fsType.empty());
    EXPECT_FALSE(isFuseMount("/"));
}

TEST(ChildProcess, StopKillsTheWholeGroup) {
    TempDir dir;
    pid_t pid = 0;
    {
        // The shell ignores SIGTERM, so stop() must escalate; its sleeps must die with it.
        ChildProcess child(
            {{"sh", "-c", "trap '' TERM; echo ready; sleep 300 & sleep 300"}, dir / "log", {}});
        pid = child.pid();
        for (int i = 0; i < 3000 && readWholeFile((dir / "log").string()).empty(); ++i) {
            ::usleep(10'000);  // until the trap is in place
        }
        EXPECT_TRUE(child.running());
        auto status = child.stop(std::chrono::milliseconds(200));
        EXPECT_EQ(status, -SIGKILL) << describeStatus(status);
    }
    // No process of the group survives (ESRCH). The killed sleeps linger as zombies until
    // init reaps them, which took over 2 s once under a load of 15: poll for up to 10 s.
    for (int i = 0; i < 1000 && ::kill(-pid, 0) == 0; ++i) {
        ::usleep(10'000);
    }
    EXPECT_NE(::kill(-pid, 0), 0);
}

TEST(ChildProcess, ReportsExitCodes) {
    TempDir dir;
    ChildProcess child({{"sh", "-c", "echo to-log; exit 7"}, dir / "log", {}});
    auto status = child.waitFor(std::chrono::seconds(30));
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 7);
    EXPECT_EQ(readWholeFile((dir / "log").string()), "to-log\n");
}

TEST(Git, FailureNamesTheCommandAndStderr) {
    TempDir dir;
    try {
        git(dir.path(), {"rev-parse", "--verify", "no-such-revision"});
        FAIL() << "git did not fail";
    } catch (const HarnessError& error) {
        EXPECT_NE(std::string(error.what()).find("no-such-revision"), std::string::npos)
            << error.what();
    }
}

TEST(SampleRepo, HoldsEveryEntryKindAndIsDeterministic) {
    TempDir dir;
    auto first = SampleRepo::build(dir / "one");
    auto second = SampleRepo::build(dir / "two");
    EXPECT_EQ(first.olderCommit, second.olderCommit);
    EXPECT_EQ(first.mainCommit, second.mainCommit);
    EXPECT_EQ(first.featureCommit, second.featureCommit);

    const std::string tree = git(first.dir, {"ls-tree", "-r", "-z", first.olderCommit});
    for (const char* mode : {"100644 blob", "100755 blob", "120000 blob", "160000 commit"}) {
        EXPECT_NE(tree.find(mode), std::string::npos) << mode;
    }
    for (const std::string name : {"\tnew\nline", "\ttab\tname", "\t\xff\xfe", "\t\001ctl",
                                   "\tna\xc3\xafve \xe2\x9c\x93.txt", "\ta/b/c/d/deep.txt",
                                   "\twith space/file name.txt", "\tempty"}) {
        EXPECT_NE(tree.find(name + '\0'), std::string::npos) << printable(name);
    }
    EXPECT_EQ(first.dir / ".git",
              std::filesystem::path(gitLine(first.dir, {"rev-parse", "--absolute-git-dir"})));
    EXPECT_EQ(gitLine(first.dir, {"rev-parse", "v2.0^{commit}"}), first.featureCommit);
    EXPECT_EQ(gitLine(first.dir, {"cat-file", "-t", "v2.0"}), "tag");
    EXPECT_EQ(gitLine(first.dir, {"rev-parse", "v1.0"}), first.olderCommit);
    EXPECT_EQ(gitLine(first.dir, {"rev-parse", "HEAD"}), first.mainCommit);
}

TEST(TreeCompare, ArchiveAndCheckoutAgree) {
    TempDir dir;
    auto repo = SampleRepo::build(dir / "repo");
    for (const auto& revision : {repo.olderCommit, repo.mainCommit, repo.featureCommit}) {
        const auto archive = dir / ("archive-" + revision);
        const auto checkout = dir / ("checkout-" + revision);
        extractRevision(repo.dir, revision, "", archive);
        checkoutWithIndex(repo.dir, revision, checkout);
        auto differences = compareTrees(archive, checkout);
        EXPECT_TRUE(differences.empty()) << joinDifferences(differences);
    }
    // The gitlink is an empty directory in the oracle.
    const auto gitlink = dir / ("archive-" + repo.mainCommit) / "sub/module";
    EXPECT_TRUE(std::filesystem::is_directory(gitlink));
    EXPECT_TRUE(std::filesystem::is_empty(gitlink));
}

TEST(TreeCompare, SubPathExtractsOnlyThatFolder) {
    TempDir dir;
    auto repo = SampleRepo::build(dir / "repo");
    extractRevision(repo.dir, "main", "a/b", dir / "sub");
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "sub/one.txt"));
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "sub/c/d/deep.txt"));
    EXPECT_FALSE(std::filesystem::exists(dir / "sub/a"));
}

TEST(TreeCompare, ReportsEachKindOfDifference) {
    TempDir dir;
    auto repo = SampleRepo::build(dir / "repo");
    extractRevision(repo.dir, "main", "", dir / "want");
    extractRevision(repo.dir, "main", "", dir / "got");
    const auto got = dir / "got";
    std::filesystem::remove(got / "README.md");
    std::ofstream(got / "extra") << "x";
    std::ofstream(got / "a/b/one.txt", std::ios::trunc) << "changed bytes, same name";
    ::chmod((got / "run.sh").c_str(), 0644);
    std::filesystem::remove(got / "links/dangling");
    std::filesystem::create_symlink("elsewhere", got / "links/dangling");
    std::filesystem::remove(got / "empty");
    std::filesystem::create_directory(got / "empty");
    std::filesystem::remove(got / "new\nline");
    std::ofstream(got / "new\nline") << "name holds a newline\n"
                                     << "and more";

    auto differences = compareTrees(dir / "want", got);
    const std::string text = joinDifferences(differences);
    for (const char* expected :
         {"README.md: missing from the mount", "extra: in the mount but not in Git",
          "a/b/one.txt: st_size", "a/b/one.txt: bytes differ from offset 0",
          "run.sh: not executable, expected executable",
          R"(links/dangling: symlink target "elsewhere", expected "does/not/exist")",
          "empty: type directory, expected file", R"(new\x0aline: st_size)",
          R"(new\x0aline: read 29 bytes, expected 21)"}) {
        EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n"
                                                          << text;
    }
    EXPECT_EQ(differences.size(), 9U) << text;
}

// Partial clone + one lazy fetch through each server kind: what the daemon will rely on.
class ServedSourceTest : public ::testing::TestWithParam<SourceKind> {};

TEST_P(ServedSourceTest, PartialCloneFetchesBlobsLazily) {
    TempDir dir;
    auto repo = SampleRepo::build(dir / "origin");
    ServedSource served(GetParam(), repo.dir, dir / "served");
    const auto clone = dir / "clone.git";
    GitOptions traced;
    traced.extraEnvironment = {{"GIT_TRACE_PACKET", "1"}};
    auto cloned = tryGit(
        dir.path(),
        {"clone", "--quiet", "--bare", "--filter=blob:none", "--", served.source(), clone.string()},
        traced);
    ASSERT_TRUE(cloned.ok()) << cloned.describe();
    // Protocol v2 is what lazy fetches need (through lighttpd it takes the CGI wrapper).
    EXPECT_NE(cloned.err.find("version 2"), std::string::npos) << cloned.err.substr(0, 2000);

    EXPECT_TRUE(localObjects(clone, "blob").empty());
    EXPECT_EQ(localObjects(clone, "commit").size(), 3U);
    EXPECT_EQ(gitLine(clone, {"rev-parse", "v2.0^{commit}"}), repo.featureCommit);

    const auto blob = gitLine(repo.dir, {"rev-parse", "main:a/b/one.txt"});
    EXPECT_EQ(git(clone, {"cat-file", "-p", blob}),
              "a/b/one.txt: the file the laziness test reads\n");
    EXPECT_EQ(localObjects(clone, "blob"), std::set<std::string>{blob});
}

INSTANTIATE_TEST_SUITE_P(Harness, ServedSourceTest,
                         ::testing::Values(SourceKind::FileUrl, SourceKind::GitDaemon,
                                           SourceKind::Http),
                         [](const auto& param) { return std::string(toString(param.param)); });

TEST(GitDaemon, StopsAndStartsAgainOnTheSamePort) {
    TempDir dir;
    auto repo = SampleRepo::build(dir / "origin");
    ServedSource served(SourceKind::GitDaemon, repo.dir, dir / "served");
    GitDaemon& daemon = *served.gitDaemon();
    const auto port = daemon.port();
    EXPECT_TRUE(tryGit(dir.path(), {"ls-remote", served.source()}).ok());

    daemon.stop();
    EXPECT_FALSE(isAccepting(port));
    auto refused = tryGit(dir.path(), {"ls-remote", served.source()});
    EXPECT_FALSE(refused.ok());

    daemon.start();
    EXPECT_EQ(daemon.port(), port);
    auto again = tryGit(dir.path(), {"ls-remote", served.source()});
    ASSERT_TRUE(again.ok()) << again.describe();
    EXPECT_NE(again.out.find(repo.mainCommit), std::string::npos);
}

// True once every thread of pid is in state T (stopped), within 10 s.
bool waitUntilEveryThreadStopped(pid_t pid) {
    const auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
    for (int attempt = 0; attempt < 1000; ++attempt) {
        bool allStopped = true;
        std::error_code ec;
        for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
            // "<tid> (<comm>) <state> ...": the state follows the last ')'.
            const std::string stat = readWholeFile((task.path() / "stat").string());
            const auto close = stat.rfind(')');
            allStopped = allStopped && close != std::string::npos && close + 2 < stat.size() &&
                         (stat[close + 2] == 'T' || stat[close + 2] == 't');
        }
        if (allStopped && !ec) {
            return true;
        }
        ::usleep(10'000);
    }
    return false;
}

// The watchdog turns a daemon that never answers into a failed test instead of a hung one.
class WatchdogTest : public MountFixture {};

TEST_F(WatchdogTest, FreesACallBlockedOnAHungDaemon) {
    MegaFused daemon(request(repo_.dir.string(), "main"), dir_ / "hung.log",
                     std::chrono::seconds(3));
    ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);  // alive, mounted, answering nothing
    // Stopping is asynchronous: a worker may still answer one request unless we wait.
    ASSERT_TRUE(waitUntilEveryThreadStopped(daemon.pid()));
    int result = 0;
    int error = 0;
    MegaFused::StopResult stopped;
    EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(
        {
            struct stat st {};
            result = ::lstat((mountPoint() / "README.md").c_str(), &st);
            error = errno;
            // Joins the watchdog thread before the macro reads its failure: lstat returning
            // orders them only through the kernel, which ThreadSanitizer cannot see.
            stopped = daemon.stop();
        },
        "watchdog");
    EXPECT_EQ(result, -1);
    EXPECT_TRUE(error == ENOTCONN || error == ECONNABORTED) << errnoText(error);
    EXPECT_EQ(stopped.status, -SIGKILL);
    EXPECT_FALSE(isFuseMount(mountPoint()));
}

}  // namespace
}  // namespace megafuse::test
