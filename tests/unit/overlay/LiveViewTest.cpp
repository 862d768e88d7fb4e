// LiveView on a real in-process mount: a change made behind the kernel's back through
// mutateExclusively (a reset, a checkout) is visible at once, although the kernel caches entries
// and attributes for an hour.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "common/Subprocess.hpp"
#include "fs/FuseMount.hpp"
#include "fs/WritableFilesystem.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse {
namespace {

std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-C", dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.extraEnvironment = {
        {"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_CONFIG_GLOBAL", "/dev/null"},
        {"GIT_AUTHOR_NAME", "t"},     {"GIT_AUTHOR_EMAIL", "t@example.com"},
        {"GIT_COMMITTER_NAME", "t"},  {"GIT_COMMITTER_EMAIL", "t@example.com"}};
    SubprocessResult result = runSubprocess(argv, options);
    if (!result.ok()) {
        throw std::runtime_error("git " + args.front() + ": " + result.describe());
    }
    return result.out;
}

void writeFile(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class LiveViewTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::access("/dev/fuse", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "no usable /dev/fuse";
        }
        char pattern[] = "/tmp/overlay-live-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        repo_ = dir_ / "repo";
        std::filesystem::create_directories(repo_);
        git(repo_, {"init", "-q", "-b", "main"});
        writeFile(repo_ / "a.txt", "base\n");
        git(repo_, {"add", "-A"});
        git(repo_, {"commit", "-qm", "one"});
        first_ = *store::ObjectId::fromHex(git(repo_, {"rev-parse", "HEAD"}).substr(0, 40));
        writeFile(repo_ / "a.txt", "second\n");
        writeFile(repo_ / "b.txt", "b\n");
        git(repo_, {"add", "-A"});
        git(repo_, {"commit", "-qm", "two"});
        second_ = *store::ObjectId::fromHex(git(repo_, {"rev-parse", "HEAD"}).substr(0, 40));

        store::StoreOptions options;
        options.cacheDir = dir_ / "cache";
        registry_ = std::make_unique<store::StoreRegistry>(options);
        store_ = registry_->open(store::SourceSpec::parse(repo_.string()));
        overlay_ = overlay::OverlayStore::open(dir_ / "overlay");
        overlay_->setBaseCommit(first_);
        filesystem_ = std::make_unique<fs::WritableFilesystem>(store_, *overlay_, "",
                                                               fs::WritableFsOptions{});
        std::filesystem::create_directories(dir_ / "mnt");
        fs::MountOptions mountOptions;
        mountOptions.mountpoint = dir_ / "mnt";
        mountOptions.readOnly = false;
        mount_ = std::make_unique<fs::FuseMount>(fs::WritableFilesystem::operations(),
                                                 filesystem_.get(), mountOptions);
        filesystem_->attachSession(mount_->session());
    }

    void TearDown() override {
        if (filesystem_) {
            filesystem_->attachSession(nullptr);
        }
        mount_.reset();
        filesystem_.reset();
        overlay_.reset();
        store_.reset();
        registry_.reset();
        if (!dir_.empty()) {
            ::umount2((dir_ / "mnt").c_str(), MNT_DETACH);
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    [[nodiscard]] std::filesystem::path mnt() const { return dir_ / "mnt"; }

    std::filesystem::path dir_;
    std::filesystem::path repo_;
    store::ObjectId first_;
    store::ObjectId second_;
    std::unique_ptr<store::StoreRegistry> registry_;
    std::shared_ptr<store::ObjectStore> store_;
    std::unique_ptr<overlay::OverlayStore> overlay_;
    std::unique_ptr<fs::WritableFilesystem> filesystem_;
    std::unique_ptr<fs::FuseMount> mount_;
};

TEST_F(LiveViewTest, ResetBehindTheKernelIsSeenAtOnce) {
    writeFile(mnt() / "a.txt", "edited\n");
    writeFile(mnt() / "new.txt", "new\n");
    EXPECT_EQ(readFile(mnt() / "a.txt"), "edited\n");
    EXPECT_TRUE(std::filesystem::exists(mnt() / "new.txt"));

    filesystem_->mutateExclusively([&] { overlay_->clear(); });
    EXPECT_EQ(readFile(mnt() / "a.txt"), "base\n");
    EXPECT_FALSE(std::filesystem::exists(mnt() / "new.txt"));
    EXPECT_EQ(std::filesystem::file_size(mnt() / "a.txt"), 5U);
}

TEST_F(LiveViewTest, MovingTheBaseShowsTheOtherRevision) {
    EXPECT_EQ(readFile(mnt() / "a.txt"), "base\n");
    EXPECT_FALSE(std::filesystem::exists(mnt() / "b.txt"));
    filesystem_->mutateExclusively([&] { overlay_->setBaseCommit(second_); });
    EXPECT_EQ(readFile(mnt() / "a.txt"), "second\n");
    EXPECT_TRUE(std::filesystem::exists(mnt() / "b.txt"));
}

TEST_F(LiveViewTest, FailureInsideStillRefreshesAndPropagates) {
    writeFile(mnt() / "a.txt", "edited\n");
    EXPECT_THROW(filesystem_->mutateExclusively([&] {
        overlay_->clear();
        throw std::runtime_error("after the change");
    }),
                 std::runtime_error);
    EXPECT_EQ(readFile(mnt() / "a.txt"), "base\n");
    bool ran = false;
    filesystem_->readConsistently([&] { ran = true; });
    EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace megafuse
