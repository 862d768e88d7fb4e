// Writable mounts end to end: a scripted edit session inside a mount of a real git:// or HTTP
// server, and the same session in a real checkout; megactl changes/diff/commit must say what git
// says, push must move the server's branch (and a rejection must lose nothing), checkout must
// keep changes or refuse on conflict, and a read-only mount must refuse with NotWritable.
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "MegactlFixture.hpp"
#include "support/Git.hpp"
#include "support/GitDaemon.hpp"
#include "support/HttpGitServer.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;

// The same edits, wherever root is: a mount or a checkout.
void editSession(const fs::path& root) {
    writeText(root / "README.md", "hello\nfrom the mount\n");         // modify
    fs::create_directories(root / "tools/gen");                       // new directories
    writeText(root / "tools/gen/make.sh", "#!/bin/sh\necho made\n");  // create
    ::chmod((root / "tools/gen/make.sh").c_str(), 0755);              // chmod +x (new file)
    ::chmod((root / "run.sh").c_str(), 0755);                         // chmod +x (base file)
    fs::remove(root / "docs/old.md");                                 // delete
    fs::rename(root / "src/lib/other.c", root / "src/moved.c");       // rename a file
    fs::rename(root / "src/lib", root / "lib");                       // rename a directory
    fs::create_symlink("src/main.c", root / "latest");                // symlink
}

class ChangesTest : public MegactlTest {
protected:
    void SetUp() override {
        if (!ServiceDaemon::available()) {
            GTEST_FAIL() << "mega-fused is not built (" << ServiceDaemon::binary() << ")";
        }
        const fs::path origin = tmp_.makeDir("origin");
        git(origin, {"init", "-q", "-b", "main"});
        fs::create_directories(origin / "src/lib");
        fs::create_directories(origin / "docs");
        writeText(origin / "README.md", "hello\nworld\n");
        writeText(origin / "run.sh", "#!/bin/sh\necho run\n");
        writeText(origin / "src/main.c", "int main(void) {\n    return 0;\n}\n");
        writeText(origin / "src/lib/util.c", "int util(void) { return 1; }\n");
        writeText(origin / "src/lib/other.c", "int other(void) { return 2; }\n");
        writeText(origin / "docs/old.md", "old\n");
        writeText(origin / "docs/keep.md", "keep\n");
        fs::create_directories(origin / "untouched");
        writeText(origin / "untouched/never-read.txt", "no one reads this\n");
        git(origin, {"add", "-A"});
        git(origin, {"commit", "-q", "-m", "base"});
        base_ = gitLine(origin, {"rev-parse", "HEAD"});
        served_ = tmp_ / "served";
        publishBare(origin, served_ / "repo.git");
        // Smart HTTP refuses anonymous pushes unless the repository allows them.
        git(served_ / "repo.git", {"config", "http.receivepack", "true"});
        origin_ = origin;
    }

    void TearDown() override { daemon_.reset(); }

    // Starts mega-fused with one writable mount "work" of source (and a read-only "ro").
    void startDaemon(const std::string& source) {
        mount_ = tmp_.makeDir("mnt/work");
        readOnly_ = tmp_.makeDir("mnt/ro");
        const fs::path config = writeUserConfig(
            "author:\n"
            "  name: Mount Author\n"
            "  email: mount@example.invalid\n"
            "mounts:\n"
            "  - name: work\n"
            "    source: " +
            source + "\n" +
            "    revision: main\n"
            "    mountpoint: " +
            mount_.string() + "\n" +
            "    writable: true\n"
            "  - name: ro\n"
            "    source: " +
            origin_.string() + "\n" + "    mountpoint: " + readOnly_.string() + "\n");
        daemon_ = std::make_unique<ServiceDaemon>(config, bus_, home_,
                                                  std::vector<fs::path>{mount_, readOnly_});
        for (const char* name : {"work", "ro"}) {
            ASSERT_TRUE(waitForState(name, "mounted")) << name << "\n" << daemon_->log();
        }
    }

    // A fresh clone of the served repository: the oracle's work tree.
    fs::path cloneServed(const std::string& name) {
        fs::path dir = tmp_ / name;
        git(tmp_.path(), {"clone", "-q", (served_ / "repo.git").string(), dir.string()});
        return dir;
    }

    std::string gitStatusAfterAddAll(const fs::path& checkout) {
        git(checkout, {"add", "-A"});
        return git(checkout, {"status", "--porcelain"});
    }

    SubprocessResult ok(const std::vector<std::string>& args) {
        auto result = megactl(args);
        EXPECT_EQ(result.exitCode, 0) << describe(result) << "\n" << daemon_->log();
        return result;
    }

    std::string serverBranch(const std::string& branch = "main") {
        return gitLine(served_ / "repo.git", {"rev-parse", "refs/heads/" + branch});
    }

    fs::path origin_;
    fs::path served_;
    std::string base_;
    fs::path mount_;
    fs::path readOnly_;
    std::unique_ptr<ServiceDaemon> daemon_;
};

TEST_F(ChangesTest, EditSessionOverGitDaemonMatchesGitAndPushes) {
    GitDaemon server(served_, tmp_.makeDir("git-daemon"));
    startDaemon(server.url("repo.git"));
    const fs::path checkout = cloneServed("checkout");
    editSession(mount_);
    editSession(checkout);

    EXPECT_EQ(ok({"changes", "work"}).out, gitStatusAfterAddAll(checkout));
    const std::string diff = ok({"diff", "work"}).out;
    EXPECT_EQ(diff, git(checkout, {"diff", "--cached", "-M"}));
    const fs::path fresh = cloneServed("fresh");
    GitOptions input;
    input.stdinData = diff;
    EXPECT_TRUE(tryGit(fresh, {"apply", "--check", "-"}, input).ok());
    const auto json = ok({"--json", "changes", "work", "src"});
    EXPECT_NE(json.out.find("{\"status\":\"R\",\"path\":\"src/moved.c\",\"old_path\":"
                            "\"src/lib/other.c\""),
              std::string::npos)
        << json.out;

    const auto committed = ok({"--json", "commit", "work", "-m", "edit session"});
    const std::string expectedTree = gitLine(checkout, {"write-tree"});
    EXPECT_EQ(ok({"changes", "work"}).out, "");
    const auto status = ok({"--json", "status", "work"});
    ok({"push", "work"});
    const std::string pushed = serverBranch();
    EXPECT_NE(committed.out.find(pushed), std::string::npos) << committed.out;
    EXPECT_NE(status.out.find("\"commit\":\"" + pushed + "\""), std::string::npos) << status.out;
    EXPECT_EQ(gitLine(served_ / "repo.git", {"rev-parse", pushed + "^{tree}"}), expectedTree);
    EXPECT_EQ(gitLine(served_ / "repo.git", {"rev-parse", pushed + "^"}), base_);
    EXPECT_EQ(gitLine(served_ / "repo.git", {"log", "-1", "--format=%an", pushed}), "Mount Author");
    // The mount still shows the session's result.
    EXPECT_EQ(readText(mount_ / "README.md"), "hello\nfrom the mount\n");
    EXPECT_EQ(fs::read_symlink(mount_ / "latest"), "src/main.c");

    // Commit and push from the partial clone fetched no blob nobody read.
    const std::string neverRead = gitLine(origin_, {"rev-parse", "HEAD:untouched/never-read.txt"});
    size_t clones = 0;
    for (const auto& entry : fs::directory_iterator(tmp_ / "cache/sources")) {
        if (entry.path().extension() == ".git") {
            ++clones;
            EXPECT_EQ(localObjects(entry.path(), "blob").count(neverRead), 0U) << entry.path();
        }
    }
    EXPECT_EQ(clones, 1U);
}

TEST_F(ChangesTest, RejectedPushReportsTheServerAndLosesNothing) {
    GitDaemon server(served_, tmp_.makeDir("git-daemon"));
    startDaemon(server.url("repo.git"));
    // Someone else pushes first.
    const fs::path other = cloneServed("other");
    writeText(other / "docs/keep.md", "theirs\n");
    git(other, {"commit", "-q", "-am", "theirs"});
    git(other, {"push", "-q", "origin", "main"});
    const std::string theirs = serverBranch();

    writeText(mount_ / "README.md", "ours\n");
    const auto committed = ok({"--json", "commit", "work", "-m", "ours"});
    writeText(mount_ / "docs/keep.md", "uncommitted\n");
    const auto rejected = megactl({"push", "work"});
    EXPECT_EQ(rejected.exitCode, 7) << describe(rejected);
    EXPECT_NE(rejected.err.find("rejected"), std::string::npos) << rejected.err;
    EXPECT_EQ(serverBranch(), theirs);
    // Nothing lost: the commit is still what the mount shows, the later edit still a change.
    const auto status = ok({"--json", "status", "work"});
    EXPECT_NE(committed.out.find(status.out.substr(status.out.find("\"commit\":\"") + 10, 40)),
              std::string::npos)
        << committed.out << status.out;
    EXPECT_EQ(ok({"changes", "work"}).out, "M  docs/keep.md\n");
    EXPECT_EQ(readText(mount_ / "README.md"), "ours\n");
}

TEST_F(ChangesTest, CheckoutKeepsChangesRefusesConflictsUnlessForced) {
    // Branch "next" on the server changes src/main.c.
    const fs::path other = cloneServed("other");
    git(other, {"checkout", "-q", "-b", "next"});
    writeText(other / "src/main.c", "int main(void) { return 7; }\n");
    git(other, {"commit", "-q", "-am", "next"});
    git(other, {"push", "-q", "origin", "next"});
    const std::string next = serverBranch("next");
    GitDaemon server(served_, tmp_.makeDir("git-daemon"));
    startDaemon(server.url("repo.git"));

    writeText(mount_ / "README.md", "local\n");
    const auto moved = ok({"--json", "checkout", "work", "next"});
    EXPECT_NE(moved.out.find(next), std::string::npos) << moved.out;
    EXPECT_EQ(readText(mount_ / "src/main.c"), "int main(void) { return 7; }\n");
    EXPECT_EQ(readText(mount_ / "README.md"), "local\n");
    EXPECT_EQ(ok({"changes", "work"}).out, "M  README.md\n");

    writeText(mount_ / "src/main.c", "int main(void) { return 8; }\n");
    const auto refused = megactl({"checkout", "work", "main"});
    EXPECT_EQ(refused.exitCode, 6) << describe(refused);
    EXPECT_NE(refused.err.find("src/main.c"), std::string::npos) << refused.err;
    EXPECT_EQ(readText(mount_ / "src/main.c"), "int main(void) { return 8; }\n");

    ok({"checkout", "work", "main", "--force"});
    EXPECT_EQ(readText(mount_ / "src/main.c"), "int main(void) {\n    return 0;\n}\n");
    EXPECT_EQ(ok({"changes", "work"}).out, "M  README.md\n");
}

TEST_F(ChangesTest, ResetNeedsPathsOrAll) {
    GitDaemon server(served_, tmp_.makeDir("git-daemon"));
    startDaemon(server.url("repo.git"));
    writeText(mount_ / "README.md", "changed\n");
    fs::remove(mount_ / "docs/old.md");
    EXPECT_EQ(megactl({"reset", "work"}).exitCode, 2);
    EXPECT_EQ(ok({"--json", "reset", "work", "README.md"}).out,
              "{\"name\":\"work\",\"paths\":[\"README.md\"],\"reset\":1}\n");
    EXPECT_EQ(readText(mount_ / "README.md"), "hello\nworld\n");
    EXPECT_EQ(ok({"changes", "work"}).out, "D  docs/old.md\n");
    ok({"reset", "work", "--all"});
    EXPECT_TRUE(fs::exists(mount_ / "docs/old.md"));
    EXPECT_EQ(ok({"changes", "work"}).out, "");
    EXPECT_EQ(megactl({"commit", "work", "-m", "nothing"}).exitCode, 1);
}

TEST_F(ChangesTest, ReadOnlyMountIsNotWritable) {
    GitDaemon server(served_, tmp_.makeDir("git-daemon"));
    startDaemon(server.url("repo.git"));
    for (const std::vector<std::string>& args : {std::vector<std::string>{"changes", "ro"},
                                                 {"diff", "ro"},
                                                 {"commit", "ro", "-m", "x"},
                                                 {"push", "ro"},
                                                 {"checkout", "ro", "main"},
                                                 {"reset", "ro", "--all"}}) {
        const auto result = megactl(args);
        EXPECT_EQ(result.exitCode, 5) << args[0] << ": " << describe(result);
        EXPECT_NE(result.err.find("read-only"), std::string::npos) << result.err;
    }
}

TEST_F(ChangesTest, CommitAndPushOverSmartHttp) {
    HttpGitServer server(served_, tmp_.makeDir("http"));
    startDaemon(server.url("repo.git"));
    const fs::path checkout = cloneServed("checkout");
    editSession(mount_);
    editSession(checkout);
    EXPECT_EQ(ok({"changes", "work"}).out, gitStatusAfterAddAll(checkout));
    ok({"commit", "work", "-m", "over http", "--author", "Http Person <http@example.invalid>"});
    ok({"push", "work", "refs/heads/from-http"});
    const std::string pushed = serverBranch("from-http");
    EXPECT_EQ(gitLine(served_ / "repo.git", {"rev-parse", pushed + "^{tree}"}),
              gitLine(checkout, {"write-tree"}));
    EXPECT_EQ(gitLine(served_ / "repo.git", {"log", "-1", "--format=%an", pushed}), "Http Person");
    EXPECT_EQ(serverBranch(), base_);
}

}  // namespace
}  // namespace megafuse::test
