// MegaServiceTest: Mega sources from config.yaml through the service (FuseMountBackend), against
// the Mega stand-in: a mount with a 0600 token file serves the repository; a token file others
// can read fails that mount alone, with a LastError naming the file and its mode, and the token
// appears in no message or log; an unreachable server fails its mount alone with a LastError.
// A mount at HEAD with refresh_interval follows its path when the server moves.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "../service/ServiceFixture.hpp"
#include "support/MegaStandIn.hpp"
#include "support/RepoBuilder.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

constexpr const char* kToken = "t0ken-never-shown";

class MegaServiceTest : public ServiceFixture {
protected:
    void SetUp() override {
        ServiceFixture::SetUp();
        serverDir_ = std::make_unique<TempDir>("megafuse-mega-svc");
        server_ = std::make_unique<MegaStandIn>(repoDir(), serverDir_->path() / "standin", "main");
        server_->requireToken(kToken);
    }
    void TearDown() override {
        ServiceFixture::TearDown();  // the daemon first: it unmounts without the server
        server_.reset();
        serverDir_.reset();
    }

    std::filesystem::path tokenFile(const std::string& name, mode_t mode) {
        auto file = serverDir_->path() / name;
        std::ofstream(file) << kToken << "\n";
        ::chmod(file.c_str(), mode);
        return file;
    }

    std::string megaMount(const std::string& name, const std::string& path,
                          const std::filesystem::path& token, std::string baseUrl = {},
                          const std::string& moreSource = {}) {
        std::filesystem::create_directories(mountpointOf(name));
        if (baseUrl.empty()) {
            baseUrl = server_->baseUrl();
        }
        return "  - name: " + name + "\n    source: {mega: \"" + baseUrl + "\", path: \"" + path +
               "\", token_file: \"" + token.string() + "\"" + moreSource + "}\n    mountpoint: \"" +
               mountpointOf(name).string() + "\"\n";
    }

    std::unique_ptr<TempDir> serverDir_;
    std::unique_ptr<MegaStandIn> server_;
};

TEST_F(MegaServiceTest, ATokenFileMustBeOwnerOnlyAndTheTokenIsNeverShown) {
    writeRawConfig("cache_dir: \"" + (temp_->path() / "cache").string() + "\"\nstate_dir: \"" +
                   (temp_->path() / "state").string() + "\"\nlog_level: debug\nmounts:\n" +
                   megaMount("good", "/dir", tokenFile("good-token", 0600)) +
                   megaMount("open", "/", tokenFile("open-token", 0644)) +
                   megaMount("dead", "/", tokenFile("dead-token", 0600), "http://127.0.0.1:1"));
    startDaemon();
    EXPECT_EQ(stateOf("good"), "mounted");
    EXPECT_EQ(readFile(mountpointOf("good") / "a.txt"), "file a\n");
    EXPECT_EQ(readFile(mountpointOf("good") / "b.txt"), "file b\n");

    auto open = mountClient("open");
    EXPECT_EQ(open->State(), "failed");
    const std::string lastError = open->LastError();
    EXPECT_NE(lastError.find((serverDir_->path() / "open-token").string()), std::string::npos)
        << lastError;
    EXPECT_NE(lastError.find("0644"), std::string::npos) << lastError;
    EXPECT_EQ(lastError.find(kToken), std::string::npos) << lastError;
    EXPECT_EQ(daemonLog().find(kToken), std::string::npos);
    // Nobody listens on port 1: that mount fails alone, saying which request could not be made.
    auto dead = mountClient("dead");
    EXPECT_EQ(dead->State(), "failed");
    EXPECT_NE(dead->LastError().find("127.0.0.1:1"), std::string::npos) << dead->LastError();
    for (const auto& header : server_->stats().authorization) {
        EXPECT_EQ(header, std::string("Bearer ") + kToken);
    }
}

TEST_F(MegaServiceTest, AMountAtHeadFollowsItsPathUpstream) {
    writeRawConfig(
        "cache_dir: \"" + (temp_->path() / "cache").string() + "\"\nstate_dir: \"" +
        (temp_->path() / "state").string() + "\"\nlog_level: debug\nmounts:\n" +
        megaMount("follow", "/dir", tokenFile("token", 0600), {}, ", refresh_interval: 1s"));
    startDaemon();
    ASSERT_EQ(stateOf("follow"), "mounted");
    EXPECT_EQ(readFile(mountpointOf("follow") / "a.txt"), "file a\n");
    EXPECT_EQ(readFile(mountpointOf("follow") / "b.txt"), "file b\n");

    RepoBuilder repo(repoDir());  // re-initializes in place; the index holds main's tree
    repo.writeFile("dir/a.txt", "file a, moved upstream\n");
    repo.remove("dir/b.txt");
    const std::string before = mountClient("follow")->CommitId();
    const std::string moved = repo.commit("main: moved upstream");
    ASSERT_NE(moved, before);
    server_->setRef(moved);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (daemonLog().find("refreshed to tree") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_NE(daemonLog().find("refreshed to tree"), std::string::npos) << daemonLog();
    EXPECT_EQ(readFile(mountpointOf("follow") / "a.txt"), "file a, moved upstream\n");
    struct stat st {};
    EXPECT_NE(::stat((mountpointOf("follow") / "b.txt").c_str(), &st), 0);
    EXPECT_EQ(errno, ENOENT);
    // CommitId (and so megactl status) follows: the manager looks every 2 s.
    auto client = mountClient("follow");
    while (client->CommitId() != moved && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(client->CommitId(), moved);
}

}  // namespace
}  // namespace megafuse::test
