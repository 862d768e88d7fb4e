// MegaMountTest: `mega-fused mount mega+http://…` on a real FUSE mount against the Mega stand-in
// (tests/support/mega-standin.py, written from Mega's published API) serving the sample
// repository: the mounted tree is the checkout byte for byte, only touched directories are
// requested, and a server that is down, slow or lying costs a reader EIO, never a hang, while the
// daemon lives on.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "../MountFixture.hpp"
#include "support/MegaStandIn.hpp"
#include "support/RepoBuilder.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

std::string errnoText(int error) {
    return std::string(std::strerror(error)) + " (" + std::to_string(error) + ")";
}

class MegaMountTest : public MountFixture {
protected:
    void SetUp() override {
        MountFixture::SetUp();
        server_ =
            std::make_unique<MegaStandIn>(repo_.dir, dir_ / "standin", SampleRepo::kMainBranch);
    }
    void TearDown() override { server_.reset(); }

    [[nodiscard]] std::string source(const std::string& megaPath = "/") const {
        return "mega+" + server_->baseUrl() + megaPath;
    }

    // A new commit on main (the branch the stand-in serves): a/b/one.txt gets new bytes,
    // a/b/two.txt goes, a/b/added.txt comes; a/b/c and everything else stay as they are.
    std::string moveUpstream() {
        RepoBuilder builder(repo_.dir);  // re-initializes in place; the index holds main's tree
        builder.writeFile("a/b/one.txt", "a/b/one.txt: changed upstream\n");
        builder.remove("a/b/two.txt");
        builder.writeFile("a/b/added.txt", "a/b/added.txt: added upstream\n");
        return builder.commit("upstream moves");
    }

    // `--refresh-interval 1` on a read-only mount of /a.
    [[nodiscard]] MountRequest movingRequest(
        std::optional<std::string> revision = std::nullopt) const {
        auto req = request(source("/a"), std::move(revision));
        req.extraArguments = {"--refresh-interval", "1"};
        return req;
    }

    static ino_t inodeOf(const std::filesystem::path& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
    }

    std::unique_ptr<MegaStandIn> server_;
};

TEST_F(MegaMountTest, TheMountedTreeIsTheCheckoutByteForByte) {
    extractRevision(repo_.dir, SampleRepo::kMainBranch, "", dir_ / "oracle");
    auto daemon = mount(request(source()));
    auto differences = compareTrees(dir_ / "oracle", mountPoint());
    EXPECT_TRUE(differences.empty()) << joinDifferences(differences);
    differences = compareTrees(dir_ / "oracle", mountPoint());  // warm: caches must agree
    EXPECT_TRUE(differences.empty()) << "second walk:\n" << joinDifferences(differences);
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
}

TEST_F(MegaMountTest, AMegaPathMountsThatDirectoryOnly) {
    extractRevision(repo_.dir, SampleRepo::kMainBranch, SampleRepo::kSubPath, dir_ / "oracle");
    auto daemon = mount(request(source("/" + std::string(SampleRepo::kSubPath))));
    auto differences = compareTrees(dir_ / "oracle", mountPoint());
    EXPECT_TRUE(differences.empty()) << joinDifferences(differences);
    for (const auto& path : server_->stats().treePaths) {
        EXPECT_EQ(path.rfind("/a/b", 0), 0U) << "asked for " << path << " outside /a/b";
    }
}

TEST_F(MegaMountTest, OnlyTouchedDirectoriesAndFilesAreRequested) {
    auto daemon = mount(request(source()));
    int error = 0;
    auto bytes = readFileOrErrno(mountPoint() / SampleRepo::kFileInSubPath, error);
    ASSERT_TRUE(bytes) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes(SampleRepo::kMainBranch, SampleRepo::kFileInSubPath));
    const auto stats = server_->stats();
    EXPECT_EQ(stats.treePaths, (std::vector<std::string>{"/", "/a", "/a/b"}));
    EXPECT_EQ(
        stats.blobIds,
        (std::vector<std::string>{blobId(SampleRepo::kMainBranch, SampleRepo::kFileInSubPath)}));
    EXPECT_EQ(stats.count("/api/v1/file/tree"), 3);
}

TEST_F(MegaMountTest, AServerThatIsDownOrSlowGivesEioWithinTheTimeout) {
    auto req = request(source());
    req.fetchTimeoutSeconds = 2;
    auto daemon = mount(req);
    struct stat st {};
    ASSERT_EQ(::stat((mountPoint() / "a" / "b").c_str(), &st), 0) << errnoText(errno);

    server_->setFault(MegaStandIn::Fault::Slow, 10);
    auto start = std::chrono::steady_clock::now();
    int error = 0;
    EXPECT_FALSE(readFileOrErrno(mountPoint() / "a/b/two.txt", error));
    EXPECT_EQ(error, EIO) << errnoText(error);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));

    server_->stop();
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(readFileOrErrno(mountPoint() / "a/b/c/d/deep.txt", error));
    EXPECT_EQ(error, EIO) << errnoText(error);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
    EXPECT_TRUE(daemon->alive());

    server_->start();  // recovers: nothing failed was cached
    auto bytes = readFileOrErrno(mountPoint() / "a/b/two.txt", error);
    ASSERT_TRUE(bytes) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes(SampleRepo::kMainBranch, "a/b/two.txt"));
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
}

TEST_F(MegaMountTest, WrongBytesGarbageAnd404AreReportedNotServed) {
    auto daemon = mount(request(source()));
    struct stat st {};
    ASSERT_EQ(::stat((mountPoint() / "a" / "b" / "one.txt").c_str(), &st), 0) << errnoText(errno);

    server_->setFault(MegaStandIn::Fault::WrongBytes);
    int error = 0;
    EXPECT_FALSE(readFileOrErrno(mountPoint() / "a/b/one.txt", error));
    EXPECT_EQ(error, EIO) << errnoText(error);
    EXPECT_TRUE(daemon->waitForLog("hash to", std::chrono::seconds(5))) << daemon->log();

    server_->setFault(MegaStandIn::Fault::Garbage);
    EXPECT_NE(::stat((mountPoint() / "a/b/c/sibling.txt").c_str(), &st), 0);
    EXPECT_EQ(errno, EIO) << errnoText(errno);

    server_->setFault(MegaStandIn::Fault::NotFound);
    EXPECT_FALSE(readFileOrErrno(mountPoint() / "README.md", error));
    EXPECT_NE(error, 0);
    EXPECT_TRUE(daemon->alive());

    server_->setFault(MegaStandIn::Fault::None);
    auto bytes = readFileOrErrno(mountPoint() / "a/b/one.txt", error);
    ASSERT_TRUE(bytes) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes(SampleRepo::kMainBranch, "a/b/one.txt"));
}

TEST_F(MegaMountTest, AWritableMountKeepsChangesInItsOverlay) {
    auto req = request(source());
    req.writable = true;
    req.overlayDir = dir_ / "overlay";
    auto daemon = mount(req);
    const auto edited = mountPoint() / SampleRepo::kFileInSubPath;
    {
        std::ofstream out(edited, std::ios::app);
        out << "appended\n";
    }
    {
        std::ofstream out(mountPoint() / "a" / "new.txt");
        out << "new file\n";
    }
    int error = 0;
    auto bytes = readFileOrErrno(edited, error);
    ASSERT_TRUE(bytes) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes(SampleRepo::kMainBranch, SampleRepo::kFileInSubPath) + "appended\n");
    EXPECT_EQ(readFileOrErrno(mountPoint() / "a" / "new.txt", error), "new file\n");
    bytes = readFileOrErrno(mountPoint() / "README.md", error);  // untouched: from the server
    ASSERT_TRUE(bytes) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes(SampleRepo::kMainBranch, "README.md"));
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
}

TEST_F(MegaMountTest, AMountAtHeadShowsUpstreamChangesAndReadsOnlyChangedDirectories) {
    auto daemon = mount(movingRequest());
    int error = 0;
    ASSERT_EQ(readFileOrErrno(mountPoint() / "b/one.txt", error),
              gitBytes(SampleRepo::kMainBranch, "a/b/one.txt"))
        << errnoText(error);
    ASSERT_TRUE(readFileOrErrno(mountPoint() / "b/two.txt", error)) << errnoText(error);
    ASSERT_TRUE(readFileOrErrno(mountPoint() / "b/c/d/deep.txt", error)) << errnoText(error);
    struct stat st {};
    EXPECT_NE(::stat((mountPoint() / "b/added.txt").c_str(), &st), 0);  // a cached negative
    const ino_t dirB = inodeOf(mountPoint() / "b");
    const ino_t dirC = inodeOf(mountPoint() / "b/c");
    const ino_t deep = inodeOf(mountPoint() / "b/c/d/deep.txt");
    ASSERT_NE(dirC, 0U);

    const std::string moved = moveUpstream();
    server_->resetStats();
    server_->setRef(moved);
    ASSERT_TRUE(daemon->waitForLog("refreshed to tree", std::chrono::seconds(30))) << daemon->log();

    EXPECT_EQ(readFileOrErrno(mountPoint() / "b/one.txt", error), "a/b/one.txt: changed upstream\n")
        << errnoText(error);
    EXPECT_FALSE(readFileOrErrno(mountPoint() / "b/two.txt", error));
    EXPECT_EQ(error, ENOENT) << errnoText(error);
    EXPECT_EQ(readFileOrErrno(mountPoint() / "b/added.txt", error),
              "a/b/added.txt: added upstream\n")
        << errnoText(error);
    EXPECT_EQ(readFileOrErrno(mountPoint() / "b/c/d/deep.txt", error),
              gitBytes(SampleRepo::kMainBranch, "a/b/c/d/deep.txt"));
    // Unchanged and swapped directories keep their inode numbers.
    EXPECT_EQ(inodeOf(mountPoint() / "b"), dirB);
    EXPECT_EQ(inodeOf(mountPoint() / "b/c"), dirC);
    EXPECT_EQ(inodeOf(mountPoint() / "b/c/d/deep.txt"), deep);

    const auto stats = server_->stats();
    EXPECT_GE(stats.count("/api/v1/tree/dir-hash"), 1);
    for (const auto& path : stats.treePaths) {
        EXPECT_TRUE(path == "/a" || path == "/a/b") << "asked again for unchanged " << path;
    }
    EXPECT_EQ(std::set<std::string>(stats.blobIds.begin(), stats.blobIds.end()),
              (std::set<std::string>{blobId(moved, "a/b/one.txt"), blobId(moved, "a/b/added.txt")}))
        << "only the new files' bytes";
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
}

TEST_F(MegaMountTest, APinnedRevisionNeverChanges) {
    auto daemon = mount(movingRequest(repo_.mainCommit));
    int error = 0;
    ASSERT_TRUE(readFileOrErrno(mountPoint() / "b/one.txt", error)) << errnoText(error);
    server_->resetStats();
    server_->setRef(moveUpstream());
    // Three refresh intervals of a moving mount: a pinned one must not have asked at all.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(readFileOrErrno(mountPoint() / "b/one.txt", error),
              gitBytes(repo_.mainCommit, "a/b/one.txt"));
    EXPECT_EQ(readFileOrErrno(mountPoint() / "b/two.txt", error),
              gitBytes(repo_.mainCommit, "a/b/two.txt"))
        << errnoText(error);
    EXPECT_EQ(server_->stats().count("/api/v1/tree/dir-hash"), 0);
    EXPECT_EQ(daemon->log().find("refreshed"), std::string::npos) << daemon->log();
}

TEST_F(MegaMountTest, ATokenFileGivenOnTheCommandLineIsSent) {
    const auto tokenFile = dir_ / "token";
    {
        std::ofstream out(tokenFile);
        out << "s3cret-token\n";
    }
    std::filesystem::permissions(
        tokenFile, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    server_->requireToken("s3cret-token");
    auto req = request(source());
    req.extraArguments = {"--token-file", tokenFile.string()};
    auto daemon = mount(req);
    int error = 0;
    EXPECT_EQ(readFileOrErrno(mountPoint() / "README.md", error),
              gitBytes(SampleRepo::kMainBranch, "README.md"))
        << errnoText(error);
    EXPECT_EQ(daemon->log().find("s3cret-token"), std::string::npos);
}

TEST_F(MegaMountTest, AnUnreachableServerFailsTheMountWithAMessage) {
    server_->stop();
    auto result = MegaFused::runUntilExit(request(source()), std::chrono::seconds(30));
    EXPECT_NE(result.exitCode, 0);
    const std::string output = result.out + result.err;
    EXPECT_NE(output.find("latest-commit"), std::string::npos) << output;
}

}  // namespace
}  // namespace megafuse::test
