// Unprivileged: mega-fused as it runs in real life — an ordinary user mounting through the setuid
// fusermount3. Run by run-as-user.sh (private namespace, 0666 /dev/fuse, a test fuse.conf); every
// test fails when it finds itself running as root, where none of this would be proven.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/Subprocess.hpp"
#include "support/ChildProcess.hpp"
#include "support/MegaFused.hpp"
#include "support/Mounts.hpp"
#include "support/RepoBuilder.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// run-as-user.sh says which fuse.conf it bound over /etc/fuse.conf.
bool fuseConfAllowsOther() {
    const char* conf = std::getenv("MEGAFUSE_TEST_FUSE_CONF");  // NOLINT(concurrency-mt-unsafe)
    return conf != nullptr && std::string(conf) == "allow_other";
}

// The other user of run-as-user.sh --second-user, and the set-ID setpriv that becomes it.
struct SecondUser {
    std::string name;
    std::string setpriv;
};

std::optional<SecondUser> secondUser() {
    const char* name = std::getenv("MEGAFUSE_TEST_SECOND_USER");  // NOLINT(concurrency-mt-unsafe)
    const char* setpriv =
        std::getenv("MEGAFUSE_TEST_AS_SECOND_USER");  // NOLINT(concurrency-mt-unsafe)
    if (name == nullptr || setpriv == nullptr) {
        return std::nullopt;
    }
    return SecondUser{name, setpriv};
}

// command run with every uid and gid the second user's.
SubprocessResult runAs(const SecondUser& user, const std::vector<std::string>& command) {
    std::vector<std::string> argv{user.setpriv, "--reuid=" + user.name, "--regid=" + user.name,
                                  "--keep-groups", "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    SubprocessOptions options;
    options.timeout = 30s;
    return runSubprocess(argv, options);
}

bool isStale(const fs::path& path) {
    struct statfs sfs {};
    return ::statfs(path.c_str(), &sfs) != 0 && errno == ENOTCONN;
}

// The pid of the daemon's unmount watcher (`sh -c … mega-fused-unmount-watcher MOUNTPOINT`).
pid_t watcherOf(const fs::path& mountPoint) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(entry.path() / "cmdline", std::ios::binary);
        const std::string cmdline((std::istreambuf_iterator<char>(in)), {});
        if (cmdline.find(std::string("mega-fused-unmount-watcher") + '\0' + mountPoint.string()) !=
            std::string::npos) {
            return static_cast<pid_t>(std::stol(name));
        }
    }
    return -1;
}

class UnprivilegedTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(::geteuid(), 0U) << "these tests prove the unprivileged path: run them through "
                                      "tests/unprivileged/run-as-user.sh, not as root";
        ASSERT_TRUE(MegaFused::available()) << "mega-fused is not built";
        RepoBuilder repo(dir_ / "repo");
        repo.writeFile("hello.txt", "hello\n");
        repo.writeFile("sub/tool.sh", "#!/bin/sh\n", true);
        repo.commit("first");
        source_ = repo.dir().string();
    }

    // The second user may walk down to the mount points (not list the folder); whatever it is
    // refused below is the mount's doing, not the path's.
    void letOthersThrough() const {
        fs::permissions(dir_.path(),
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    }

    [[nodiscard]] MountRequest request(const std::string& name = "mnt") const {
        MountRequest r;
        r.source = source_;
        r.mountPoint = dir_ / name;
        r.cacheDir = dir_ / "cache";
        fs::create_directories(r.mountPoint);
        return r;
    }

    std::unique_ptr<MegaFused> mount(const MountRequest& r) {
        return std::make_unique<MegaFused>(
            r, dir_ / ("daemon-" + std::to_string(++daemons_) + ".log"));
    }

    TempDir dir_;
    std::string source_;
    int daemons_ = 0;
};

TEST_F(UnprivilegedTest, FilesShowTheUsersUidAndGid) {
    auto daemon = mount(request());
    for (const char* path : {"", "hello.txt", "sub", "sub/tool.sh"}) {
        struct stat st {};
        ASSERT_EQ(::stat((daemon->request().mountPoint / path).c_str(), &st), 0) << path;
        EXPECT_EQ(st.st_uid, ::getuid()) << path;
        EXPECT_EQ(st.st_gid, ::getgid()) << path;
    }
    EXPECT_EQ(daemon->stop().status, 0);
}

TEST_F(UnprivilegedTest, WritableMountCreatesFilesOwnedByTheUser) {
    MountRequest r = request();
    r.writable = true;
    r.overlayDir = dir_ / "overlay";
    auto daemon = mount(r);
    const fs::path created = r.mountPoint / "sub" / "new.txt";
    std::ofstream(created) << "new\n";
    fs::create_directory(r.mountPoint / "newdir");
    for (const fs::path& path : {created, r.mountPoint / "newdir"}) {
        struct stat st {};
        ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
        EXPECT_EQ(st.st_uid, ::getuid()) << path;
        EXPECT_EQ(st.st_gid, ::getgid()) << path;
    }
    EXPECT_EQ(daemon->stop().status, 0);
    // What the overlay keeps on disk belongs to the user too.
    for (const auto& entry : fs::recursive_directory_iterator(r.overlayDir)) {
        struct stat st {};
        ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0);
        EXPECT_EQ(st.st_uid, ::getuid()) << entry.path();
    }
}

TEST_F(UnprivilegedTest, AllowOtherFollowsFuseConf) {
    MountRequest r = request();
    r.allowOther = true;
    if (!fuseConfAllowsOther()) {
        const auto result = MegaFused::runUntilExit(r, 30s);
        EXPECT_NE(result.exitCode, 0);
        const std::string output = result.out + result.err;
        EXPECT_NE(output.find("user_allow_other"), std::string::npos) << output;
        EXPECT_NE(output.find("/etc/fuse.conf"), std::string::npos) << output;
        EXPECT_FALSE(isFuseMount(r.mountPoint));
        return;
    }
    // Writable, for a file of mode 0600 the second user must be refused.
    r.writable = true;
    r.overlayDir = dir_ / "overlay";
    letOthersThrough();
    auto daemon = mount(r);
    const auto entry = findMount(r.mountPoint);
    ASSERT_TRUE(entry.has_value());
    std::ifstream mounts("/proc/self/mounts");
    const std::string table((std::istreambuf_iterator<char>(mounts)), {});
    const auto line = table.find(r.mountPoint.string());
    ASSERT_NE(line, std::string::npos);
    const std::string options = table.substr(line, table.find('\n', line) - line);
    EXPECT_NE(options.find("allow_other"), std::string::npos) << options;
    EXPECT_NE(options.find("default_permissions"), std::string::npos) << options;

    // Another user is let in (allow_other) and held to the files' modes (default_permissions).
    const auto other = secondUser();
    ASSERT_TRUE(other.has_value()) << "run this through run-as-user.sh --second-user";
    const fs::path secret = r.mountPoint / "secret.txt";
    std::ofstream(secret) << "mine\n";
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    const auto shared = runAs(*other, {"cat", "--", (r.mountPoint / "hello.txt").string()});
    EXPECT_TRUE(shared.ok()) << shared.describe();
    EXPECT_EQ(shared.out, "hello\n");
    const auto refused = runAs(*other, {"cat", "--", secret.string()});
    EXPECT_NE(refused.exitCode, 0) << refused.out;
    EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.describe();
    std::ifstream own(secret);
    std::string text;
    EXPECT_TRUE(std::getline(own, text) && text == "mine") << "the owner reads its 0600 file";
    EXPECT_EQ(daemon->stop().status, 0);
}

TEST_F(UnprivilegedTest, SecondUserIsRefusedWithoutAllowOther) {
    const auto other = secondUser();
    ASSERT_TRUE(other.has_value()) << "run this through run-as-user.sh --second-user";
    letOthersThrough();
    MountRequest r = request();
    const auto before = runAs(*other, {"stat", "--", r.mountPoint.string()});
    ASSERT_TRUE(before.ok()) << "the second user cannot reach the folder: " << before.describe();
    auto daemon = mount(r);
    for (const fs::path& path : {r.mountPoint, r.mountPoint / "hello.txt"}) {
        const auto refused = runAs(*other, {"stat", "--", path.string()});
        EXPECT_NE(refused.exitCode, 0) << path << ": " << refused.out;
        EXPECT_NE(refused.err.find("Permission denied"), std::string::npos)
            << path << ": " << refused.describe();
    }
    EXPECT_EQ(daemon->stop().status, 0);
}

// The kernel and fusermount3 refuse these; mega-fused must say so in its own words first.
// Not MegaFused::runUntilExit: it unmounts whatever FUSE mount it finds there afterwards.
void expectRefusedBeforeFuse(const MountRequest& r, const std::string& reason) {
    SubprocessOptions options;
    options.timeout = 30s;
    const auto result = runSubprocess(r.commandLine(), options);
    const std::string output = result.out + result.err;
    EXPECT_EQ(result.exitCode, 2) << output;
    EXPECT_NE(output.find(reason), std::string::npos) << output;
    EXPECT_NE(output.find(r.mountPoint.string()), std::string::npos) << output;
    EXPECT_EQ(output.find("fusermount3:"), std::string::npos)
        << "refused by fusermount3, not before it:\n"
        << output;
}

TEST_F(UnprivilegedTest, MountpointTheUserCannotWriteIsAClearError) {
    MountRequest r = request();
    r.mountPoint = "/";
    for (const char* candidate : {"/mnt", "/opt", "/srv", "/usr/share"}) {
        if (fs::is_directory(candidate) && ::access(candidate, W_OK) != 0 &&
            !findMount(candidate).has_value()) {
            r.mountPoint = candidate;
            break;
        }
    }
    ASSERT_NE(r.mountPoint, "/") << "no root-owned folder to try";
    expectRefusedBeforeFuse(r, "no write access");
}

TEST_F(UnprivilegedTest, MountpointThatIsAFileIsAClearError) {
    MountRequest r = request();
    r.mountPoint = dir_ / "a-file";
    std::ofstream(r.mountPoint) << "x";
    expectRefusedBeforeFuse(r, "not a directory");
}

TEST_F(UnprivilegedTest, MountpointAlreadyMountedIsAClearError) {
    auto first = mount(request());
    expectRefusedBeforeFuse(request(), "already a mount point");
    // The first mount is untouched.
    EXPECT_TRUE(fs::exists(first->request().mountPoint / "hello.txt"));
    EXPECT_EQ(first->stop().status, 0);
}

TEST_F(UnprivilegedTest, StaleMountAfterKillDashNineIsClearedByTheNextStart) {
    MountRequest r = request();
    {
        // A bare process, not MegaFused: its cleanup would unmount the stale mount itself.
        ChildOptions options;
        options.argv = r.commandLine();
        options.logFile = dir_ / "killed.log";
        ChildProcess daemon(options);
        const auto mounted = std::chrono::steady_clock::now() + 30s;
        while (!isFuseMount(r.mountPoint) && std::chrono::steady_clock::now() < mounted) {
            std::this_thread::sleep_for(20ms);
        }
        ASSERT_TRUE(isFuseMount(r.mountPoint)) << "the first daemon did not mount";
        // Its unmount watcher would drop the mount: kill it first, so the daemon dies like a
        // crashed one whose helper died too.
        // (It is started right after the mount appears.)
        pid_t watcher = watcherOf(r.mountPoint);
        const auto started = std::chrono::steady_clock::now() + 10s;
        while (watcher <= 0 && std::chrono::steady_clock::now() < started) {
            std::this_thread::sleep_for(20ms);
            watcher = watcherOf(r.mountPoint);
        }
        ASSERT_GT(watcher, 0) << "no unmount watcher for " << r.mountPoint;
        ASSERT_EQ(::kill(watcher, SIGKILL), 0);
        daemon.signal(SIGKILL);
        ASSERT_TRUE(daemon.waitFor(10s).has_value());
        ASSERT_TRUE(isStale(r.mountPoint)) << "kill -9 left no stale mount to clear";
    }
    // Bare too: the new mount's mountinfo line can equal the stale one's word for word (the
    // kernel reuses the mount id and device at once), which MegaFused cannot tell from no mount.
    ChildOptions options;
    options.argv = r.commandLine();
    options.logFile = dir_ / "next.log";
    ChildProcess next(options);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (text != "hello" && next.running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        std::ifstream in(r.mountPoint / "hello.txt");
        std::getline(in, text);
    }
    std::ifstream logFile(options.logFile);
    const std::string log((std::istreambuf_iterator<char>(logFile)), {});
    EXPECT_EQ(text, "hello") << log;
    EXPECT_NE(log.find("stale FUSE mount"), std::string::npos) << log;
    next.signal(SIGTERM);
    EXPECT_EQ(next.waitFor(20s), std::optional<ChildProcess::Status>(0)) << log;
    EXPECT_FALSE(isFuseMount(r.mountPoint));
}

TEST_F(UnprivilegedTest, SigtermWithAShellInsideDetachesLazily) {
    MountRequest r = request();
    auto daemon = mount(r);
    ChildOptions shell;
    shell.argv = {"/bin/sh", "-c", "cd \"$1\" && exec sleep 60", "sh",
                  (r.mountPoint / "sub").string()};
    shell.logFile = dir_ / "shell.log";
    ChildProcess busy(shell);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    const std::string cwd = "/proc/" + std::to_string(busy.pid()) + "/cwd";
    while (fs::read_symlink(cwd).string().find("sub") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    const auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status) << "\n" << daemon->log();
    EXPECT_TRUE(stopped.unmountedByDaemon) << daemon->log();
    EXPECT_FALSE(isFuseMount(r.mountPoint));
    EXPECT_TRUE(busy.running()) << "the shell inside must survive a lazy unmount";
}

}  // namespace
}  // namespace megafuse::test
