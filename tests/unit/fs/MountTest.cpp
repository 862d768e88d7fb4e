// MountTest: the filesystem mounted for real (in this process, real kernel, real libgit2 store
// over a repository built with the git CLI) and used through ordinary system calls.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "FsTestSupport.hpp"
#include "fs/Filesystem.hpp"
#include "fs/FuseMount.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::test {
namespace {

namespace stdfs = std::filesystem;
using store::ObjectId;

bool canMount() {
    return ::geteuid() == 0 || ::access("/dev/fuse", R_OK | W_OK) == 0;
}

std::string readWhole(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::set<std::string> listNames(const stdfs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : stdfs::directory_iterator(dir)) {
        names.insert(entry.path().filename().string());
    }
    return names;
}

// Wraps the real store and pretends every blob is remote until fetched, counting round trips:
// lets the size-prefetch policy be checked on a local repository.
class CountingStore final : public store::ObjectStore {
public:
    explicit CountingStore(std::shared_ptr<store::ObjectStore> real) : real_(std::move(real)) {}

    ObjectId resolveCommit(const std::string& revision) override {
        return real_->resolveCommit(revision);
    }
    ObjectId treeAtPath(const ObjectId& commit, std::string_view subPath) override {
        return real_->treeAtPath(commit, subPath);
    }
    int64_t commitTime(const ObjectId& commit) override { return real_->commitTime(commit); }
    std::shared_ptr<const store::Tree> readTree(const ObjectId& id) override {
        return real_->readTree(id);
    }
    bool hasBlob(const ObjectId& id) override {
        std::lock_guard lock(mutex_);
        return local_.count(id) != 0;
    }
    uint64_t blobSize(const ObjectId& id) override {
        fetchOne(id);
        return real_->blobSize(id);
    }
    void prefetchBlobs(const std::vector<ObjectId>& ids) override {
        std::lock_guard lock(mutex_);
        ++batches_;
        local_.insert(ids.begin(), ids.end());
    }
    UniqueFd openBlob(const ObjectId& id) override {
        fetchOne(id);
        return real_->openBlob(id);
    }
    std::string readBlob(const ObjectId& id, size_t maxBytes) override {
        fetchOne(id);
        return real_->readBlob(id, maxBytes);
    }
    [[nodiscard]] store::StoreStats stats() const override { return real_->stats(); }
    [[nodiscard]] std::string describe() const override { return "counting " + real_->describe(); }

    int singleFetches() const {
        std::lock_guard lock(mutex_);
        return singleFetches_;
    }
    int batches() const {
        std::lock_guard lock(mutex_);
        return batches_;
    }

private:
    void fetchOne(const ObjectId& id) {
        std::lock_guard lock(mutex_);
        if (local_.insert(id).second) {
            ++singleFetches_;
        }
    }

    std::shared_ptr<store::ObjectStore> real_;
    mutable std::mutex mutex_;  // leaf
    std::unordered_set<ObjectId, store::ObjectIdHash> local_;
    int singleFetches_ = 0;
    int batches_ = 0;
};

class MountTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        repoHome_ = std::make_unique<TempDir>();
        repo_ = std::make_unique<TestRepo>(makeTestRepo(repoHome_->path() / "repo"));
    }
    static void TearDownTestSuite() {
        repo_.reset();
        repoHome_.reset();
    }

    void SetUp() override {
        if (!canMount()) {
            GTEST_SKIP() << "mounting needs root or a writable /dev/fuse";
        }
        mountpoint_ = work_.path() / "mnt";
        stdfs::create_directories(mountpoint_);
    }

    // Mounts the repository's HEAD (or subPath of it) at mountpoint_.
    void mount(const std::string& subPath = "", bool counting = false) {
        store::StoreOptions options;
        options.cacheDir = work_.path() / "cache";
        registry_ = std::make_unique<store::StoreRegistry>(options);
        store_ = registry_->open(store::SourceSpec::parse(repo_->dir.string()));
        if (counting) {
            counting_ = std::make_shared<CountingStore>(store_);
            store_ = counting_;
        }
        const ObjectId commit = store_->resolveCommit("HEAD");
        fs::FsOptions fsOptions;
        fsOptions.reportedCapacityBytes = 1ULL << 30U;
        filesystem_ = std::make_unique<fs::Filesystem>(store_, store_->treeAtPath(commit, subPath),
                                                       store_->commitTime(commit), fsOptions);
        fs::MountOptions mountOptions;
        mountOptions.mountpoint = mountpoint_;
        mount_ = std::make_unique<fs::FuseMount>(*filesystem_, mountOptions);
    }

    [[nodiscard]] stdfs::path at(const std::string& relative) const {
        return mountpoint_ / relative;
    }

    static std::unique_ptr<TempDir> repoHome_;
    static std::unique_ptr<TestRepo> repo_;

    // Destroyed bottom-up: the mount first, the folder it sits in last.
    TempDir work_;
    MountCleanup cleanup_{work_.path() / "mnt"};
    stdfs::path mountpoint_;
    std::unique_ptr<store::StoreRegistry> registry_;
    std::shared_ptr<store::ObjectStore> store_;
    std::shared_ptr<CountingStore> counting_;
    std::unique_ptr<fs::Filesystem> filesystem_;
    std::unique_ptr<fs::FuseMount> mount_;
};

std::unique_ptr<TempDir> MountTest::repoHome_;
std::unique_ptr<TestRepo> MountTest::repo_;

TEST_F(MountTest, ListsTheTree) {
    mount();
    EXPECT_TRUE(isFuseMounted(mountpoint_));
    EXPECT_EQ(listNames(mountpoint_),
              (std::set<std::string>{"README.md", "bin", "dirlink", "link", "many",
                                     "name with spaces.txt", "src", "vendor"}));
    EXPECT_EQ(listNames(at("src/lib")), (std::set<std::string>{"data.bin", "deep.txt"}));
    EXPECT_EQ(listNames(at("many")).size(), static_cast<size_t>(TestRepo::kManyFiles));
}

TEST_F(MountTest, ReadsFilesByteForByte) {
    mount();
    EXPECT_EQ(readWhole(at("README.md")), "hello mega-fuse\n");
    EXPECT_EQ(readWhole(at("name with spaces.txt")), "spaces\n");
    EXPECT_EQ(readWhole(at("src/lib/data.bin")), TestRepo::dataBytes());

    // pread at an offset and past the end.
    UniqueFd fd(::open(at("src/lib/data.bin").c_str(), O_RDONLY));
    ASSERT_TRUE(fd);
    char buf[100];
    ASSERT_EQ(::pread(fd.get(), buf, sizeof buf, 1000000), 100);
    EXPECT_EQ(std::string(buf, 100), TestRepo::dataBytes().substr(1000000, 100));
    EXPECT_EQ(::pread(fd.get(), buf, sizeof buf, TestRepo::kDataBytes), 0);
}

TEST_F(MountTest, AttributesFollowGitModes) {
    mount();
    struct stat st {};
    ASSERT_EQ(::lstat(at("README.md").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFREG | 0444);
    EXPECT_EQ(st.st_size, 16);
    EXPECT_EQ(st.st_mtime, TestRepo::kCommitTime);
    EXPECT_EQ(st.st_ctime, TestRepo::kCommitTime);
    EXPECT_EQ(st.st_uid, ::getuid());
    EXPECT_EQ(st.st_gid, ::getgid());
    EXPECT_EQ(st.st_nlink, 1U);

    ASSERT_EQ(::lstat(at("bin/run.sh").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFREG | 0555);
    EXPECT_EQ(::access(at("bin/run.sh").c_str(), X_OK), 0);

    ASSERT_EQ(::lstat(at("src").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFDIR | 0555);

    ASSERT_EQ(::lstat(at("link").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFLNK | 0777);
    EXPECT_EQ(st.st_size, 9);  // "README.md"

    ASSERT_EQ(::lstat(at("src/lib/data.bin").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, static_cast<off_t>(TestRepo::kDataBytes));
    EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>((TestRepo::kDataBytes + 511) / 512));
}

TEST_F(MountTest, SymlinksResolve) {
    mount();
    EXPECT_EQ(stdfs::read_symlink(at("link")), "README.md");
    EXPECT_EQ(stdfs::read_symlink(at("dirlink")), "src/lib");
    EXPECT_EQ(readWhole(at("link")), "hello mega-fuse\n");
    EXPECT_EQ(readWhole(at("dirlink/deep.txt")), "deep\n");
}

TEST_F(MountTest, GitlinkIsAnEmptyDirectory) {
    mount();
    struct stat st {};
    ASSERT_EQ(::lstat(at("vendor/sub").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_TRUE(listNames(at("vendor/sub")).empty());
    EXPECT_EQ(::lstat(at("vendor/sub/anything").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
}

TEST_F(MountTest, MissingNamesAreEnoent) {
    mount();
    struct stat st {};
    EXPECT_EQ(::lstat(at("nope").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(::lstat(at("README.md/child").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOTDIR);
}

TEST_F(MountTest, EveryWriteIsReadOnly) {
    mount();
    EXPECT_EQ(::open(at("README.md").c_str(), O_WRONLY), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::open(at("new.txt").c_str(), O_WRONLY | O_CREAT, 0644), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::mkdir(at("newdir").c_str(), 0755), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::unlink(at("README.md").c_str()), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::rename(at("README.md").c_str(), at("x").c_str()), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::chmod(at("README.md").c_str(), 0777), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::symlink("a", at("l2").c_str()), -1);
    EXPECT_EQ(errno, EROFS);
    EXPECT_EQ(::setxattr(at("README.md").c_str(), "user.k", "v", 1, 0), -1);
    EXPECT_EQ(errno, EROFS);
}

TEST_F(MountTest, NoExtendedAttributes) {
    mount();
    char buf[64];
    EXPECT_EQ(::getxattr(at("README.md").c_str(), "user.k", buf, sizeof buf), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT_EQ(::listxattr(at("README.md").c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
}

TEST_F(MountTest, StatfsDescribesAReadOnlyFilesystem) {
    mount();
    struct statvfs st {};
    ASSERT_EQ(::statvfs(mountpoint_.c_str(), &st), 0);
    EXPECT_EQ(st.f_bsize, 4096U);
    EXPECT_EQ(st.f_blocks, (1ULL << 30U) / 4096);
    EXPECT_EQ(st.f_bavail, 0U);
    EXPECT_GE(st.f_files, 1U);
    EXPECT_NE(st.f_flag & ST_RDONLY, 0U);
}

TEST_F(MountTest, WalkMatchesGitLsTree) {
    mount();
    std::set<std::string> expected;
    std::istringstream listing(git(repo_->dir, {"ls-tree", "-r", "-t", "--name-only", "HEAD"}));
    for (std::string line; std::getline(listing, line);) {
        expected.insert(line);
    }
    std::set<std::string> walked;
    for (const auto& entry : stdfs::recursive_directory_iterator(mountpoint_)) {
        walked.insert(entry.path().lexically_relative(mountpoint_).string());
    }
    EXPECT_EQ(walked, expected);
}

TEST_F(MountTest, SubPathBecomesTheRoot) {
    mount("src/lib");
    EXPECT_EQ(listNames(mountpoint_), (std::set<std::string>{"data.bin", "deep.txt"}));
    EXPECT_EQ(readWhole(at("deep.txt")), "deep\n");
}

TEST_F(MountTest, ConcurrentReadersSeeTheSameBytes) {
    mount();
    const std::string expected = TestRepo::dataBytes();
    std::atomic<int> mismatches{0};
    std::vector<std::thread> readers;
    readers.reserve(4);
    for (int i = 0; i < 4; ++i) {
        readers.emplace_back([&] {
            for (int round = 0; round < 3; ++round) {
                if (readWhole(at("src/lib/data.bin")) != expected) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& reader : readers) {
        reader.join();
    }
    EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(MountTest, KernelForgetsReleaseInodes) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "drop_caches needs root";
    }
    mount();
    for (const auto& entry : stdfs::recursive_directory_iterator(mountpoint_)) {
        (void)entry;
    }
    EXPECT_GT(filesystem_->inodes().size(), 40U);
    // Dropping the kernel's dentry and inode caches sends FORGETs for everything it held.
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (filesystem_->inodes().size() > 1 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(filesystem_->inodes().size(), 1U) << "only the root is left";
    EXPECT_EQ(readWhole(at("src/lib/deep.txt")), "deep\n") << "names come back on lookup";
}

TEST_F(MountTest, CatFetchesOnlyThatFile) {
    mount("", /*counting=*/true);
    EXPECT_EQ(readWhole(at("many/f07")), "file 7\n");
    EXPECT_EQ(counting_->singleFetches(), 1);
    EXPECT_EQ(counting_->batches(), 0);
}

TEST_F(MountTest, LongListingCostsOneBatch) {
    mount("", /*counting=*/true);
    int files = 0;
    for (const auto& entry : stdfs::directory_iterator(at("many"))) {  // ls -l: readdir + lstat
        struct stat st {};
        ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0);
        EXPECT_GT(st.st_size, 0);
        ++files;
    }
    EXPECT_EQ(files, TestRepo::kManyFiles);
    EXPECT_EQ(counting_->batches(), 1);
    EXPECT_EQ(counting_->singleFetches(), 0);
}

TEST_F(MountTest, ClosedFilesAndDirectoriesAreReleased) {
    mount();
    {
        UniqueFd file(::open(at("README.md").c_str(), O_RDONLY));
        ASSERT_TRUE(file);
        EXPECT_EQ(listNames(at("many")).size(), static_cast<size_t>(TestRepo::kManyFiles));
        EXPECT_GE(filesystem_->openHandles(), 1U);
    }
    // release is asynchronous for FUSE: wait (bounded) for the kernel to send it.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (filesystem_->openHandles() != 0 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(filesystem_->openHandles(), 0U);
}

TEST_F(MountTest, StopUnmountsEvenWithAnOpenFile) {
    mount();
    UniqueFd fd(::open(at("README.md").c_str(), O_RDONLY));
    ASSERT_TRUE(fd);
    // stop() detaches at once; the open file keeps the connection only until the grace ends
    // (then an abort, when fusectl is there) or, without fusectl, until it is closed.
    std::thread closer([&fd] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        fd.reset();
    });
    EXPECT_TRUE(mount_->stop());
    closer.join();
    EXPECT_FALSE(isFuseMounted(mountpoint_));
    mount_.reset();
}

}  // namespace
}  // namespace megafuse::test
