// Bounds and limits of the service, through a real daemon: the configured max_mounts and
// max_diff_bytes refuse what is beyond them with the documented D-Bus errors, the prefetch and
// xattr bounds reach the mounts' filesystem and overlay, a reload names the
// settings that wait for a restart (RestartPending), per-mount fetch_timeout holds for a reader
// of that mount while another mount of the same server waits longer, and a first clone reports
// git's progress as Progress signals.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "ServiceFixture.hpp"
#include "support/Git.hpp"
#include "support/Network.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
constexpr const char* kFailed = "com.gitmega.MegaFuse1.Error.Failed";

class BoundsTest : public ServiceFixture {
protected:
    // writeConfig's file with more top-level settings after the mounts list.
    void writeConfigWith(const std::vector<MountEntrySpec>& mounts, const std::string& extra) {
        writeConfig(mounts);
        std::ofstream(configFile(), std::ios::app) << extra;
    }

    [[nodiscard]] std::string wholeLog() const {
        return readFile(*temp_ / "daemon.log").value_or("");
    }

    Options adHoc(const std::string& name) {
        const fs::path mountpoint = temp_->makeDir("mnt/" + name);
        return {{"name", sdbus::Variant(name)},
                {"source", sdbus::Variant(repoDir().string())},
                {"mountpoint", sdbus::Variant(mountpoint.string())}};
    }
};

TEST_F(BoundsTest, MaxMountsRefusesTheNextAddMount) {
    writeConfigWith({{"alpha", repoDir().string()}}, "max_mounts: 2\n");
    startDaemon();
    manager().AddMount(adHoc("second"));
    CallError third = callError([&] { manager().AddMount(adHoc("third")); });
    EXPECT_EQ(third.name, kInvalidArgs) << third.message;
    EXPECT_EQ(third.message, "too many mounts (max_mounts is 2)");
    manager().RemoveMount("second", {});
    // Room again.
    manager().AddMount(adHoc("third"));
    EXPECT_EQ(stateOf("third"), "mounted");
    manager().RemoveMount("third", {});
}

TEST_F(BoundsTest, MaxDiffBytesFailsALargerDiff) {
    writeWritableMountConfig("max_diff_bytes: 64KiB\n");
    startDaemon();
    // Three new files of 30,000 bytes: each diff alone fits, the three together do not.
    for (const char* name : {"big1.txt", "big2.txt", "big3.txt"}) {
        std::string lines;
        while (lines.size() < 30'000) {
            lines += "a line of text that ends up in the diff\n";
        }
        std::ofstream(mountpointOf("w") / name) << lines;
    }
    auto w = mountClient("w");
    EXPECT_NE(w->Diff({"big1.txt"}).find("+++ b/big1.txt"), std::string::npos);
    CallError all = callError([&] { w->Diff({}); });
    EXPECT_EQ(all.name, kFailed) << all.message;
    EXPECT_NE(all.message.find("the diff would exceed 65536 bytes (max_diff_bytes)"),
              std::string::npos)
        << all.message;
}

TEST_F(BoundsTest, PrefetchAndXattrBoundsReachTheirMounts) {
    fs::create_directories(mountpointOf("ro"));
    fs::create_directories(mountpointOf("listed"));
    fs::create_directories(mountpointOf("w"));
    std::ostringstream text;
    text << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n"
         << "state_dir: \"" << (*temp_ / "state").string() << "\"\n"
         << "prefetch_directory_max_blobs: 1\n"
         << "prefetch_listing_max_blobs: 1\n"
         << "xattr_name_max: 10\n"
         << "xattr_value_max: 16\n"
         << "xattr_names_max: 256\n"
         << "mounts:\n"
         << "  - name: ro\n"
         << "    source: \"" << fileUrl() << "\"\n"
         << "    revision: main\n"
         << "    mountpoint: \"" << mountpointOf("ro").string() << "\"\n"
         << "  - name: listed\n"
         << "    source: \"" << gitUrl() << "\"\n"
         << "    revision: main\n"
         << "    mountpoint: \"" << mountpointOf("listed").string() << "\"\n"
         << "  - name: w\n"
         << "    source: \"" << repoDir().string() << "\"\n"
         << "    mountpoint: \"" << mountpointOf("w").string() << "\"\n"
         << "    writable: true\n";
    writeRawConfig(text.str());
    startDaemon();
    ASSERT_EQ(stateOf("ro"), "mounted") << daemonLog();
    ASSERT_EQ(stateOf("listed"), "mounted") << daemonLog();
    ASSERT_EQ(stateOf("w"), "mounted") << daemonLog();

    // A partial clone: dir/a.txt's size needs its blob. With the default batch (256) its
    // neighbour dir/b.txt would come along; a batch of one brings just the blob asked for.
    struct stat st {};
    ASSERT_EQ(::stat((mountpointOf("ro") / "dir" / "a.txt").c_str(), &st), 0)
        << std::strerror(errno);
    EXPECT_EQ(st.st_size, 7);
    EXPECT_EQ(mountClient("ro")->ObjectsFetched(), 1U) << daemonLog();
    // A lookup just after a listing: its batch (by default every missing blob, `ls -l` needs
    // them all) is bounded by prefetch_listing_max_blobs. Another source, another store.
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(mountpointOf("listed") / "dir")) {
        names.push_back(entry.path().filename().string());
    }
    EXPECT_EQ(names.size(), 2U);
    ASSERT_EQ(::stat((mountpointOf("listed") / "dir" / "a.txt").c_str(), &st), 0)
        << std::strerror(errno);
    EXPECT_EQ(mountClient("listed")->ObjectsFetched(), 1U) << daemonLog();

    // The overlay takes values up to xattr_value_max and answers E2BIG beyond, as a native
    // filesystem does beyond its own limit.
    const std::string file = (mountpointOf("w") / "hello.txt").string();
    const std::string value(17, 'v');
    EXPECT_EQ(::setxattr(file.c_str(), "user.k", value.data(), 16, 0), 0) << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(::setxattr(file.c_str(), "user.k", value.data(), 17, 0), -1);
    EXPECT_EQ(errno, E2BIG) << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(::setxattr(file.c_str(), "user.abcdef", "v", 1, 0), -1) << "11 bytes of name";
    EXPECT_EQ(errno, ERANGE) << std::strerror(errno);
    // Names of 9 bytes with their NULs: 256 bytes hold 28 (the default, 64KiB, all 40).
    int stored = 0;
    int error = 0;
    for (int i = 0; i < 40 && error == 0; ++i) {
        const std::string name = "user.n" + std::to_string(10 + i);
        if (::setxattr(file.c_str(), name.c_str(), "v", 1, 0) == 0) {
            ++stored;
        } else {
            error = errno;
        }
    }
    EXPECT_EQ(error, ENOSPC) << std::strerror(error);
    EXPECT_GE(stored, 20);
}

// prefetch_window 0: a lookup right after a listing batches like any other (here one blob, by
// prefetch_directory_max_blobs); with the default 10s window the listing's batch (up to 4096)
// would bring the directory's two missing blobs.
TEST_F(BoundsTest, PrefetchWindowZeroNeverBatchesAListing) {
    fs::create_directories(mountpointOf("listed"));
    std::ostringstream text;
    text << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n"
         << "state_dir: \"" << (*temp_ / "state").string() << "\"\n"
         << "prefetch_window: 0\n"
         << "prefetch_directory_max_blobs: 1\n"
         << "mounts:\n"
         << "  - name: listed\n"
         << "    source: \"" << gitUrl() << "\"\n"
         << "    revision: main\n"
         << "    mountpoint: \"" << mountpointOf("listed").string() << "\"\n";
    writeRawConfig(text.str());
    startDaemon();
    ASSERT_EQ(stateOf("listed"), "mounted") << daemonLog();
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(mountpointOf("listed") / "dir")) {
        names.push_back(entry.path().filename().string());
    }
    EXPECT_EQ(names.size(), 2U);
    struct stat st {};
    ASSERT_EQ(::stat((mountpointOf("listed") / "dir" / "a.txt").c_str(), &st), 0)
        << std::strerror(errno);
    EXPECT_EQ(st.st_size, 7);
    EXPECT_EQ(mountClient("listed")->ObjectsFetched(), 1U) << daemonLog();
}

// xattr_entry_max bounds the names and values of one file together: two values of 3000 bytes do
// not fit in 4KiB (ENOSPC), as they would in the default 256KiB; another file has its own room.
TEST_F(BoundsTest, XattrEntryMaxBoundsOneFilesAttributes) {
    writeWritableMountConfig("xattr_entry_max: 4KiB\n");
    startDaemon();
    ASSERT_EQ(stateOf("w"), "mounted") << daemonLog();
    const std::string value(3000, 'v');
    const std::string file = (mountpointOf("w") / "hello.txt").string();
    EXPECT_EQ(::setxattr(file.c_str(), "user.a", value.data(), value.size(), 0), 0)
        << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(::setxattr(file.c_str(), "user.b", value.data(), value.size(), 0), -1);
    EXPECT_EQ(errno, ENOSPC) << std::strerror(errno);
    const std::string other = (mountpointOf("w") / "dir" / "a.txt").string();
    EXPECT_EQ(::setxattr(other.c_str(), "user.b", value.data(), value.size(), 0), 0)
        << std::strerror(errno);
}

TEST_F(BoundsTest, ReloadNamesTheSettingsThatWaitForARestart) {
    writeConfig({{"alpha", repoDir().string()}});
    startDaemon();
    EXPECT_TRUE(manager().RestartPending().empty());

    // libgit2's limits are process-wide, set once at the start: a restart too.
    writeConfigWith({{"alpha", repoDir().string()}},
                    "max_mounts: 3\nworker_threads: 2\ngit_pack_files_max: 64\n");
    manager().Reload();
    EXPECT_EQ(manager().RestartPending(),
              (std::vector<std::string>{"worker_threads", "max_mounts", "git_pack_files_max"}));
    EXPECT_NE(wholeLog().find("reload: worker_threads, max_mounts, git_pack_files_max changed; "
                              "the running daemon keeps the values it started with until it is "
                              "restarted"),
              std::string::npos)
        << daemonLog();
    // Still the values it started with: a third and a fourth ad-hoc mount fit under 256.
    manager().AddMount(adHoc("b"));
    manager().AddMount(adHoc("c"));
    manager().AddMount(adHoc("d"));
    for (const char* name : {"b", "c", "d"}) {
        manager().RemoveMount(name, {});
    }

    // A log level is applied by the reload itself; back to the start values: nothing pending.
    writeConfigWith({{"alpha", repoDir().string()}}, "");
    std::string text = readFile(configFile()).value();
    text.replace(text.find("log_level: debug"), 16, "log_level: info");
    writeRawConfig(text);
    manager().Reload();
    EXPECT_TRUE(manager().RestartPending().empty());
}

TEST_F(BoundsTest, PerMountFetchTimeoutBoundsThatMountsReaders) {
    // Two mounts of one git server: "patient" mounts first and would, with one store per source,
    // hand its hour-long timeout to "hasty"; the reader of hasty would then hang, not get EIO.
    const std::string url = gitUrl();
    writeConfig({{"patient", url}, {"hasty", url, "main", false}});
    std::string text = readFile(configFile()).value();
    auto addAfter = [&](const std::string& name, const std::string& lines) {
        const std::string anchor = "  - name: " + name + "\n";
        text.insert(text.find(anchor) + anchor.size(), lines);
    };
    addAfter("patient", "    fetch_timeout: 1h\n");
    addAfter("hasty", "    fetch_timeout: 1s\n    fetch_concurrency: 1\n");
    writeRawConfig(text);
    startDaemon();
    ASSERT_EQ(stateOf("patient"), "mounted") << daemonLog();
    mountClient("hasty")->Mount({});
    ASSERT_EQ(stateOf("hasty"), "mounted") << daemonLog();

    // The server accepts and never answers: only the mount's own fetch_timeout ends the wait.
    gitDaemon_->stop();
    SilentListener hole(gitDaemon_->port());
    int error = 0;
    EXPECT_FALSE(readFile(mountpointOf("hasty") / "hello.txt", &error).has_value());
    EXPECT_EQ(error, EIO) << std::strerror(error);

    const std::string log = wholeLog();
    EXPECT_NE(log.find("mount 'hasty': fetch_timeout 1000 ms, fetch_concurrency 1"),
              std::string::npos)
        << daemonLog();
    EXPECT_NE(log.find("mount 'patient': fetch_timeout 3600000 ms, fetch_concurrency 2"),
              std::string::npos)
        << daemonLog();
    // What ended the read: hasty's fetch, bounded by its own second.
    EXPECT_TRUE(log.find("timed out after 1000 ms") != std::string::npos ||
                log.find("did not finish within 1000 ms") != std::string::npos)
        << daemonLog();
}

// Progress signals of one mount object, recorded on a connection with its own event loop.
class ProgressRecorder final : public sdbus::ProxyInterfaces<com::gitmega::MegaFuse1::Mount_proxy> {
public:
    struct Event {
        std::string operation;
        uint64_t done = 0;
        uint64_t total = 0;
    };

    ProgressRecorder(sdbus::IConnection& connection, const std::string& objectPath)
        : ProxyInterfaces(connection, "com.gitmega.MegaFuse1", objectPath) {
        registerProxy();
    }
    ~ProgressRecorder() { unregisterProxy(); }
    ProgressRecorder(const ProgressRecorder&) = delete;
    ProgressRecorder& operator=(const ProgressRecorder&) = delete;

    std::vector<Event> events() {
        std::lock_guard lock(mutex_);
        return events_;
    }

private:
    void onProgress(const std::string& operation, const uint64_t& done,
                    const uint64_t& total) override {
        std::lock_guard lock(mutex_);
        events_.push_back(Event{operation, done, total});
    }

    std::mutex mutex_;  // the connection's event-loop thread appends, the test reads
    std::vector<Event> events_;
};

TEST_F(BoundsTest, FirstCloneReportsGitsProgress) {
    // Hundreds of commits, each with new trees: a blob:none clone still receives ~1,000
    // objects, enough for git to redraw its progress many times.
    const fs::path big = *temp_ / "big";
    git(temp_->path(), {"init", "--quiet", "--initial-branch=main", big.string()});
    std::string stream;
    for (int i = 1; i <= 300; ++i) {
        const std::string content = "change " + std::to_string(i) + "\n";
        stream += "commit refs/heads/main\ncommitter T <t@example.com> " +
                  std::to_string(1'700'000'000 + i) + " +0000\ndata 2\nc\n";
        stream += "M 100644 inline d" + std::to_string(i % 30) + "/f" + std::to_string(i) +
                  ".txt\ndata " + std::to_string(content.size()) + "\n" + content + "\n";
    }
    GitOptions streamIn;
    streamIn.stdinData = stream;
    git(big, {"fast-import", "--quiet"}, streamIn);
    allowPartialClone(big);
    std::istringstream listed(git(big, {"rev-list", "--objects", "--all", "--filter=blob:none"}));
    uint64_t objects = 0;
    for (std::string line; std::getline(listed, line);) {
        ++objects;
    }

    writeConfig({});
    startDaemon();
    auto signals = sdbus::createSessionBusConnectionWithAddress(address());
    signals->enterEventLoopAsync();
    auto recorder = std::make_unique<ProgressRecorder>(*signals, mountPath("big"));
    Options spec = adHoc("big");
    spec["source"] = sdbus::Variant("file://" + big.string());
    manager().AddMount(spec);
    ASSERT_EQ(stateOf("big"), "mounted") << daemonLog();
    // The signals were sent before the reply, but reach this connection on its own thread.
    auto cloneEnded = [](const std::vector<ProgressRecorder::Event>& events) {
        return std::any_of(events.begin(), events.end(), [](const auto& e) {
            return e.operation == "clone" && e.total > 0 && e.done == e.total;
        });
    };
    std::vector<ProgressRecorder::Event> events = recorder->events();
    for (int i = 0; i < 600 && !cloneEnded(events); ++i) {
        std::this_thread::sleep_for(50ms);
        events = recorder->events();
    }
    recorder.reset();
    signals->leaveEventLoop();

    std::vector<ProgressRecorder::Event> clone;
    for (const auto& e : events) {
        if (e.operation == "clone") {
            clone.push_back(e);
        }
    }
    ASSERT_FALSE(clone.empty()) << daemonLog();
    EXPECT_EQ(clone.front().done, 0U);
    EXPECT_EQ(clone.front().total, 0U);  // started, count not known yet
    bool between = false;
    for (const auto& e : clone) {
        if (e.total > 0) {
            EXPECT_EQ(e.total, objects);
            EXPECT_LE(e.done, e.total);
            between = between || e.done > 0;
        }
    }
    EXPECT_TRUE(between) << "no clone progress with 0 < done <= total";
    EXPECT_EQ(clone.back().done, objects);
    EXPECT_EQ(clone.back().total, objects);
    manager().RemoveMount("big", {});
}

}  // namespace
}  // namespace megafuse::test
