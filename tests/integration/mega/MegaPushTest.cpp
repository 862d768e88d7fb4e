// MegaPushTest: commit and push from a writable Mega mount, through the service and the real
// megactl, against the stand-in serving a bare repository as Mega path /project (its API and
// Git's smart HTTP at /project.git over the same repository). git on the served repository is
// the oracle: the pushed commit's tree is what git commits for the same edit, the pack carried
// only the new objects, and a refused push reports the server's words and loses nothing.
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "MegactlFixture.hpp"
#include "support/Git.hpp"
#include "support/MegaStandIn.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "push-t0ken-never-shown";
constexpr const char* kDeepFile = "deep/a/b/c/file.txt";

class MegaPushTest : public MegactlTest {
protected:
    void SetUp() override {
        if (!ServiceDaemon::available()) {
            GTEST_FAIL() << "mega-fused is not built (" << ServiceDaemon::binary() << ")";
        }
        origin_ = tmp_.makeDir("origin");
        git(origin_, {"init", "-q", "-b", "main"});
        fs::create_directories(origin_ / "deep/a/b/c");
        fs::create_directories(origin_ / "deep/a/x/y");
        fs::create_directories(origin_ / "other");
        writeText(origin_ / "README.md", "project\n");
        writeText(origin_ / kDeepFile, "deep file\n");
        writeText(origin_ / "deep/a/b/sibling.txt", "beside the changed directory\n");
        writeText(origin_ / "deep/a/x/y/unchanged.txt", "an unchanged subtree\n");
        writeText(origin_ / "other/never-read.txt", "no one reads this\n");
        git(origin_, {"add", "-A"});
        git(origin_, {"commit", "-q", "-m", "base"});
        base_ = gitLine(origin_, {"rev-parse", "HEAD"});
        served_ = tmp_ / "served/project.git";
        publishBare(origin_, served_);
        server_ = std::make_unique<MegaStandIn>(served_, tmp_ / "standin", "main", "/project");
        server_->requireToken(kToken);
    }

    void TearDown() override {
        daemon_.reset();  // the daemon first: it unmounts without the server
        server_.reset();
    }

    void startDaemon() {
        mount_ = tmp_.makeDir("mnt/work");
        const fs::path token = tmp_ / "token";
        writeText(token, std::string(kToken) + "\n");
        ::chmod(token.c_str(), 0600);
        const fs::path config = writeUserConfig(
            "author:\n"
            "  name: Mount Author\n"
            "  email: mount@example.invalid\n"
            "mounts:\n"
            "  - name: work\n"
            "    source: {mega: \"" +
            server_->baseUrl() + "\", path: /project, token_file: \"" + token.string() + "\"}\n" +
            "    mountpoint: " + mount_.string() + "\n" + "    writable: true\n");
        daemon_ =
            std::make_unique<ServiceDaemon>(config, bus_, home_, std::vector<fs::path>{mount_});
        ASSERT_TRUE(waitForState("work", "mounted")) << daemon_->log();
    }

    SubprocessResult ok(const std::vector<std::string>& args) {
        auto result = megactl(args);
        EXPECT_EQ(result.exitCode, 0) << describe(result) << "\n" << daemon_->log();
        return result;
    }

    std::string servedBranch() { return gitLine(served_, {"rev-parse", "refs/heads/main"}); }

    std::string statusCommit() {
        const auto status = ok({"--json", "status", "work"});
        const size_t at = status.out.find(R"("commit":")");
        return at == std::string::npos ? "" : status.out.substr(at + 10, 40);
    }

    fs::path origin_;
    fs::path served_;
    std::string base_;
    fs::path mount_;
    std::unique_ptr<MegaStandIn> server_;
    std::unique_ptr<ServiceDaemon> daemon_;
};

TEST_F(MegaPushTest, ACommitInADeepDirectoryIsPushedWithOnlyItsNewObjects) {
    startDaemon();
    const std::string edited = readText(mount_ / kDeepFile) + "edited in the mount\n";
    writeText(mount_ / kDeepFile, edited);
    server_->resetStats();

    const auto committed = ok({"--json", "commit", "work", "-m", "deep edit"});
    EXPECT_EQ(readText(mount_ / kDeepFile), edited);  // the mount now shows the new commit
    ok({"push", "work", "main"});

    // The oracle: the same edit committed by git over the served base.
    writeText(origin_ / kDeepFile, edited);
    git(origin_, {"commit", "-q", "-am", "oracle"});
    const std::string pushed = servedBranch();
    EXPECT_NE(committed.out.find(pushed), std::string::npos) << committed.out;
    EXPECT_EQ(statusCommit(), pushed);
    EXPECT_EQ(gitLine(served_, {"rev-parse", pushed + "^{tree}"}),
              gitLine(origin_, {"rev-parse", "HEAD^{tree}"}));
    EXPECT_EQ(gitLine(served_, {"rev-parse", pushed + "^"}), base_);
    EXPECT_EQ(gitLine(served_, {"log", "-1", "--format=%an %s", pushed}), "Mount Author deep edit");
    EXPECT_TRUE(tryGit(served_, {"fsck", "--no-dangling"}).ok());

    // One blob, the five trees on its path (root, deep, a, b, c) and the commit: nothing of the
    // unchanged subtrees (deep/a/x, other) was sent, and no blob was downloaded to push.
    const auto stats = server_->stats();
    EXPECT_EQ(stats.pushedObjects, std::vector<int>{7});
    EXPECT_TRUE(stats.blobIds.empty()) << stats.blobIds.size() << " blobs downloaded";
    EXPECT_EQ(stats.count("/git/git-receive-pack"), 1);
    EXPECT_EQ(stats.count("/git/git-upload-pack"), 1);  // the base commit; no tree fetched lazily
    for (const auto& header : stats.authorization) {
        EXPECT_EQ(header, std::string("Bearer ") + kToken);  // the Git endpoint's too
    }
    EXPECT_EQ(daemon_->log().find(kToken), std::string::npos);

    // Below the new commit, unchanged directories still come from the server.
    EXPECT_EQ(readText(mount_ / "deep/a/x/y/unchanged.txt"), "an unchanged subtree\n");

    // Two more commits on top, pushed at once: the pushed commit is the base now (no fetch),
    // and each commit's changed paths are covered.
    writeText(mount_ / "README.md", "second\n");
    ok({"commit", "work", "-m", "second"});
    writeText(mount_ / "deep/a/x/y/unchanged.txt", "third\n");
    ok({"commit", "work", "-m", "third"});
    server_->resetStats();
    ok({"push", "work", "main"});
    writeText(origin_ / "README.md", "second\n");
    git(origin_, {"commit", "-q", "-am", "second"});
    writeText(origin_ / "deep/a/x/y/unchanged.txt", "third\n");
    git(origin_, {"commit", "-q", "-am", "third"});
    EXPECT_EQ(gitLine(served_, {"rev-parse", "main^{tree}"}),
              gitLine(origin_, {"rev-parse", "HEAD^{tree}"}));
    EXPECT_EQ(gitLine(served_, {"rev-parse", "main~2"}), pushed);
    // second: blob, root, commit; third: blob, y, x, a, deep, root, commit.
    EXPECT_EQ(server_->stats().pushedObjects, std::vector<int>{10});
    EXPECT_EQ(server_->stats().count("/git/git-upload-pack"), 0);
}

TEST_F(MegaPushTest, ARefusedPushReportsTheServerAndKeepsTheLocalCommit) {
    startDaemon();
    // Someone else moves the served branch first.
    const fs::path other = tmp_ / "other";
    git(tmp_.path(), {"clone", "-q", served_.string(), other.string()});
    writeText(other / "README.md", "theirs\n");
    git(other, {"commit", "-q", "-am", "theirs"});
    git(other, {"push", "-q", "origin", "main"});
    const std::string theirs = servedBranch();

    writeText(mount_ / kDeepFile, "ours\n");
    const auto committed = ok({"--json", "commit", "work", "-m", "ours"});
    const auto refused = megactl({"push", "work", "main"});
    EXPECT_EQ(refused.exitCode, 7) << describe(refused);
    EXPECT_NE(refused.err.find("rejected"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("fetch first"), std::string::npos) << refused.err;  // git's words
    EXPECT_EQ(servedBranch(), theirs);
    // Nothing lost: the mount still shows our commit and its bytes.
    const std::string ours = statusCommit();
    EXPECT_EQ(ours.size(), 40U);
    EXPECT_NE(committed.out.find(ours), std::string::npos) << committed.out;
    EXPECT_EQ(readText(mount_ / kDeepFile), "ours\n");
}

}  // namespace
}  // namespace megafuse::test
