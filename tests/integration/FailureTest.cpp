// FailureTest: what users see when things go wrong — a server outage or a hung server turns into
// EIO within --fetch-timeout (and the daemon lives on and recovers), a bad revision or sub-path is
// refused before mounting with a message naming it, and a damaged content cache is not served.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include "MountFixture.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/Network.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

constexpr auto kExitWait = std::chrono::seconds(60);
constexpr const char* kLeftAMount = "(harness: the daemon left a mount behind";

class OutageTest : public MountFixture {
protected:
    // Mounts main from a git daemon with a short fetch timeout; one small directory is listed
    // first, so its blob is local before the outage.
    void mountFromGitDaemon() {
        served_ = std::make_unique<ServedSource>(SourceKind::GitDaemon, repo_.dir, dir_ / "served");
        auto req = request(served_->source(), "main");
        req.fetchTimeoutSeconds = 5;
        daemon_ = mount(req);
        struct stat st {};
        ASSERT_EQ(::lstat((mountPoint() / kFetchedBefore).c_str(), &st), 0) << errnoText(errno);
    }

    void expectEioWhileTheServerIsDown() {
        int error = 0;
        auto bytes = readFileOrErrno(mountPoint() / kNotYetFetched, error);
        EXPECT_FALSE(bytes.has_value()) << "read a not-yet-fetched file with the server down";
        EXPECT_EQ(error, EIO) << errnoText(error) << " instead of " << errnoText(EIO);
        EXPECT_TRUE(daemon_->alive()) << "a failed fetch killed the daemon";
        EXPECT_TRUE(daemon_->mounted());

        // Bytes fetched before the outage stay readable.
        bytes = readFileOrErrno(mountPoint() / kFetchedBefore, error);
        ASSERT_TRUE(bytes.has_value()) << kFetchedBefore << ": " << errnoText(error);
        EXPECT_EQ(*bytes, gitBytes("main", kFetchedBefore));
    }

    void expectRecovery() {
        int error = 0;
        auto bytes = readFileOrErrno(mountPoint() / kNotYetFetched, error);
        ASSERT_TRUE(bytes.has_value())
            << "the same read after the server came back: " << errnoText(error);
        EXPECT_EQ(*bytes, gitBytes("main", kNotYetFetched));
        EXPECT_EQ(daemon_->stop().status, 0);
    }

    static constexpr const char* kNotYetFetched = "a/b/two.txt";
    static constexpr const char* kFetchedBefore = "with space/file name.txt";

    std::unique_ptr<ServedSource> served_;
    std::unique_ptr<MegaFused> daemon_;  // declared after served_: unmounts before it stops
};

TEST_F(OutageTest, StoppedServerGivesEioThenTheSameReadSucceedsWhenItIsBack) {
    ASSERT_NO_FATAL_FAILURE(mountFromGitDaemon());
    served_->gitDaemon()->stop();
    expectEioWhileTheServerIsDown();
    served_->gitDaemon()->start();
    expectRecovery();
}

TEST_F(OutageTest, HungServerGivesEioWithinTheFetchTimeout) {
    ASSERT_NO_FATAL_FAILURE(mountFromGitDaemon());
    GitDaemon& server = *served_->gitDaemon();
    server.stop();
    {
        // Accepts and never answers: only --fetch-timeout ends the fetch (the watchdog would
        // fail the test if nothing did).
        SilentListener hole(server.port());
        expectEioWhileTheServerIsDown();
    }
    server.start();
    expectRecovery();
}

class RefusedMountTest : public MountFixture, public ::testing::WithParamInterface<SourceKind> {
protected:
    SubprocessResult runExpectingRefusal(const MountRequest& req) {
        auto result = MegaFused::runUntilExit(req, kExitWait);
        EXPECT_FALSE(result.timedOut) << "mega-fused did not exit; it was killed";
        EXPECT_EQ(result.err.find(kLeftAMount), std::string::npos) << "it mounted anyway";
        return result;
    }
};

TEST_P(RefusedMountTest, UnknownRevisionExitsWithCode2NamingIt) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto result = runExpectingRefusal(request(served.source(), "no-such-revision"));
    EXPECT_EQ(result.exitCode, 2) << result.describe();
    EXPECT_NE(result.err.find("no-such-revision"), std::string::npos)
        << "stderr does not name the revision:\n"
        << result.err;
}

TEST_P(RefusedMountTest, UnknownSubPathIsAClearError) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto result = runExpectingRefusal(request(served.source(), "main", "no/such/dir"));
    EXPECT_NE(result.exitCode, 0) << result.describe();
    EXPECT_NE(result.err.find("no/such/dir"), std::string::npos)
        << "stderr does not name the path:\n"
        << result.err;
}

TEST_P(RefusedMountTest, SubPathNamingAFileIsAClearError) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto result = runExpectingRefusal(request(served.source(), "main", "README.md"));
    EXPECT_NE(result.exitCode, 0) << result.describe();
    EXPECT_NE(result.err.find("README.md"), std::string::npos) << "stderr does not name the path:\n"
                                                               << result.err;
}

INSTANTIATE_TEST_SUITE_P(AllSources, RefusedMountTest,
                         ::testing::Values(SourceKind::LocalPath, SourceKind::FileUrl,
                                           SourceKind::GitDaemon, SourceKind::Http),
                         [](const auto& param) { return std::string(toString(param.param)); });

class ContentCacheTest : public MountFixture {
protected:
    // Mounts main from a git daemon, reads the whole tree once (filling the content cache), stops,
    // damages every cached blob with damage(), mounts again and expects Git's bytes everywhere.
    void expectDamageIsNotServed(const std::function<void(const std::filesystem::path&)>& damage) {
        ServedSource served(SourceKind::GitDaemon, repo_.dir, dir_ / "served");
        extractRevision(repo_.dir, "main", "", dir_ / "oracle");
        {
            auto daemon = mount(request(served.source(), "main"));
            auto differences = compareTrees(dir_ / "oracle", mountPoint());
            ASSERT_TRUE(differences.empty()) << joinDifferences(differences);
            ASSERT_EQ(daemon->stop().status, 0);
        }
        std::vector<std::filesystem::path> cached;
        std::error_code ec;
        for (const auto& entry :
             std::filesystem::recursive_directory_iterator(cacheDir() / "blobs", ec)) {
            if (entry.is_regular_file() && entry.file_size() > 0) {
                cached.push_back(entry.path());
            }
        }
        ASSERT_FALSE(cached.empty()) << "nothing in the content cache " << cacheDir() / "blobs";
        for (const auto& file : cached) {
            damage(file);
        }
        auto daemon = mount(request(served.source(), "main"));
        auto differences = compareTrees(dir_ / "oracle", mountPoint());
        EXPECT_TRUE(differences.empty())
            << "after damaging " << cached.size() << " content-cache files:\n"
            << joinDifferences(differences);
        EXPECT_EQ(daemon->stop().status, 0);
    }
};

TEST_F(ContentCacheTest, TruncatedCacheFilesAreNotServed) {
    expectDamageIsNotServed([](const std::filesystem::path& file) {
        std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
    });
}

TEST_F(ContentCacheTest, CacheFilesWithWrongBytesOfTheRightSizeAreNotServed) {
    expectDamageIsNotServed([](const std::filesystem::path& file) {
        std::string bytes = readWholeFile(file.string());
        for (auto& byte : bytes) {
            byte = static_cast<char>(~byte);
        }
        std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    });
}

}  // namespace
}  // namespace megafuse::test
