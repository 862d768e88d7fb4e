// Service tests: mega-fused in service mode on a private session bus, driven through the
// generated proxy and through busctl/gdbus — every method and error of the D-Bus contract, with
// real FUSE mounts of a real repository (local path, file://, git://).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "ServiceFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/ChildProcess.hpp"
#include "support/HarnessError.hpp"
#include "support/MegaFused.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kNotFound = "com.gitmega.MegaFuse1.Error.NotFound";
constexpr const char* kAlreadyMounted = "com.gitmega.MegaFuse1.Error.AlreadyMounted";
constexpr const char* kNotMounted = "com.gitmega.MegaFuse1.Error.NotMounted";
constexpr const char* kBusy = "com.gitmega.MegaFuse1.Error.Busy";
constexpr const char* kInvalidConfig = "com.gitmega.MegaFuse1.Error.InvalidConfig";
constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";

Options noOptions() {
    return {};
}

Options flag(const std::string& key) {
    return {{key, sdbus::Variant(true)}};
}

// A process whose working directory is inside dir, until the object goes away.
class ProcessInside {
public:
    ProcessInside(const fs::path& dir, const fs::path& log)
        : process_(
              ChildOptions{{"sh", "-c", "cd \"$0\" && exec sleep 600", dir.string()}, log, {}}) {
        const std::string proc = "/proc/" + std::to_string(process_.pid()) + "/cwd";
        for (int i = 0; i < 1000; ++i) {
            std::error_code ec;
            if (fs::read_symlink(proc, ec) == dir) {
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
        throw std::runtime_error("the process did not enter " + dir.string());
    }

private:
    ChildProcess process_;
};

std::set<std::string> managedNames(const ManagedObjects& objects) {
    std::set<std::string> names;
    for (const auto& [path, interfaces] : objects) {
        auto it = interfaces.find("com.gitmega.MegaFuse1.Mount");
        if (it != interfaces.end()) {
            names.insert(it->second.at("Name").get<std::string>());
        }
    }
    return names;
}

using ServiceTest = ServiceFixture;

TEST_F(ServiceTest, StartsListsConfiguredMountsAndAutomounts) {
    writeConfig({{"alpha", repoDir().string()}, {"beta", repoDir().string(), "other", false}});
    startDaemon();
    EXPECT_NE(notify().received().find("STATUS="), std::string::npos) << notify().received();

    ManagedObjects objects = manager().GetManagedObjects();
    EXPECT_EQ(managedNames(objects), (std::set<std::string>{"alpha", "beta"}));
    const auto& alpha =
        objects.at(sdbus::ObjectPath(mountPath("alpha"))).at("com.gitmega.MegaFuse1.Mount");
    EXPECT_EQ(alpha.at("State").get<std::string>(), "mounted");
    EXPECT_EQ(alpha.at("MountPoint").get<std::string>(), mountpointOf("alpha").string());
    EXPECT_EQ(alpha.at("Revision").get<std::string>(), "main");
    EXPECT_EQ(alpha.at("CommitId").get<std::string>().size(), 40U);
    EXPECT_TRUE(alpha.at("Configured").get<bool>());
    EXPECT_TRUE(alpha.at("Automount").get<bool>());
    EXPECT_EQ(alpha.at("LastError").get<std::string>(), "");
    const auto& beta =
        objects.at(sdbus::ObjectPath(mountPath("beta"))).at("com.gitmega.MegaFuse1.Mount");
    EXPECT_EQ(beta.at("State").get<std::string>(), "unmounted");
    EXPECT_EQ(beta.at("CommitId").get<std::string>(), "");

    EXPECT_TRUE(isFuseMount(mountpointOf("alpha")));
    EXPECT_FALSE(isFuseMount(mountpointOf("beta")));
    EXPECT_EQ(readFile(mountpointOf("alpha") / "hello.txt"), "hello from main\n");
    EXPECT_EQ(manager().ConfigPath(), configFile().string());
    EXPECT_FALSE(manager().Version().empty());

    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
    EXPECT_FALSE(isFuseMount(mountpointOf("alpha")));
}

TEST_F(ServiceTest, SecondDaemonFailsClearlyWhenTheNameIsTaken) {
    writeConfig({});
    startDaemon();
    ChildOptions options;
    options.argv = {MegaFused::binary().string(), "--config", configFile().string()};
    options.logFile = *temp_ / "second.log";
    options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", address()}};
    ChildProcess second(options);
    auto status = second.waitFor(60s);
    ASSERT_TRUE(status.has_value()) << "the second daemon kept running";
    EXPECT_EQ(*status, 1);
    EXPECT_NE(tailOfFile(options.logFile.string()).find("com.gitmega.MegaFuse1"), std::string::npos)
        << tailOfFile(options.logFile.string());
}

TEST_F(ServiceTest, MountUnmountAndTheirErrorsThroughTheProxy) {
    writeConfig({{"alpha", repoDir().string()}, {"beta", repoDir().string(), "other", false}});
    startDaemon();
    auto beta = mountClient("beta");

    beta->Mount(noOptions());
    EXPECT_EQ(beta->State(), "mounted");
    EXPECT_EQ(readFile(mountpointOf("beta") / "hello.txt"), "hello from other\n");

    CallError again = callError([&] { beta->Mount(noOptions()); });
    EXPECT_EQ(again.name, kAlreadyMounted);
    EXPECT_NE(again.message.find("beta"), std::string::npos) << again.message;

    beta->Unmount(noOptions());
    EXPECT_EQ(beta->State(), "unmounted");
    EXPECT_FALSE(isFuseMount(mountpointOf("beta")));
    EXPECT_EQ(callError([&] { beta->Unmount(noOptions()); }).name, kNotMounted);

    // Options: unknown keys and wrong types are InvalidArgs with the reason.
    CallError unknown = callError([&] { beta->Mount(flag("bogus")); });
    EXPECT_EQ(unknown.name, kInvalidArgs);
    EXPECT_NE(unknown.message.find("bogus"), std::string::npos) << unknown.message;
    auto alpha = mountClient("alpha");
    CallError wrongType = callError([&] {
        alpha->Unmount({{"force", sdbus::Variant(std::string("yes"))}});
    });
    EXPECT_EQ(wrongType.name, kInvalidArgs);
    EXPECT_NE(wrongType.message.find("force"), std::string::npos) << wrongType.message;
    EXPECT_EQ(alpha->State(), "mounted");

    // ResolveMount: by name, mountpoint, a path inside; NotFound otherwise.
    EXPECT_EQ(manager().ResolveMount("alpha"), sdbus::ObjectPath(mountPath("alpha")));
    EXPECT_EQ(manager().ResolveMount(mountpointOf("beta").string()),
              sdbus::ObjectPath(mountPath("beta")));
    EXPECT_EQ(manager().ResolveMount((mountpointOf("alpha") / "dir" / "a.txt").string()),
              sdbus::ObjectPath(mountPath("alpha")));
    EXPECT_EQ(callError([&] { manager().ResolveMount("nope"); }).name, kNotFound);
    EXPECT_EQ(callError([&] { manager().ResolveMount("/nowhere/at/all"); }).name, kNotFound);
    EXPECT_EQ(callError([&] { manager().ResolveMount(""); }).name, kInvalidArgs);

    // A method on an object that does not exist.
    auto ghost = mountClient("ghost");
    EXPECT_FALSE(callError([&] { ghost->Mount(noOptions()); }).name.empty());

    // Prefetch: fetches (nothing missing for a local repository) and reports a count.
    EXPECT_EQ(alpha->Prefetch({}, noOptions()), 0U);
    EXPECT_EQ(callError([&] { alpha->Prefetch({"/abs"}, noOptions()); }).name, kInvalidArgs);
    EXPECT_EQ(callError([&] { beta->Prefetch({}, noOptions()); }).name, kNotMounted);
}

TEST_F(ServiceTest, BusyUnlessLazyOrForce) {
    writeConfig({{"alpha", repoDir().string()}, {"beta", repoDir().string()}});
    startDaemon();
    auto alpha = mountClient("alpha");
    {
        ProcessInside inside(mountpointOf("alpha") / "dir", *temp_ / "inside.log");
        CallError busy = callError([&] { alpha->Unmount(noOptions()); });
        EXPECT_EQ(busy.name, kBusy);
        EXPECT_NE(busy.message.find("lazy"), std::string::npos) << busy.message;
        EXPECT_EQ(alpha->State(), "mounted");
        EXPECT_TRUE(isFuseMount(mountpointOf("alpha")));

        alpha->Unmount(flag("lazy"));
        EXPECT_EQ(alpha->State(), "unmounted");
        EXPECT_FALSE(isFuseMount(mountpointOf("alpha")));
    }
    // Mounted again while (or after) the detached session drains.
    alpha->Mount(noOptions());
    EXPECT_EQ(readFile(mountpointOf("alpha") / "dir" / "a.txt"), "file a\n");

    auto beta = mountClient("beta");
    ProcessInside inside(mountpointOf("beta"), *temp_ / "inside2.log");
    EXPECT_EQ(callError([&] { beta->Unmount(noOptions()); }).name, kBusy);
    beta->Unmount(flag("force"));
    EXPECT_EQ(beta->State(), "unmounted");
    EXPECT_FALSE(isFuseMount(mountpointOf("beta")));
}

TEST_F(ServiceTest, AddMountRejectsMalformedArgumentsWithTheReason) {
    writeConfig({{"alpha", repoDir().string()}});
    startDaemon();
    const fs::path free = temp_->makeDir("mnt/free");
    const fs::path file = *temp_ / "a-file";
    std::ofstream(file) << "x";
    auto spec = [&](const std::string& name, const std::string& mountpoint) {
        return Options{{"name", sdbus::Variant(name)},
                       {"source", sdbus::Variant(repoDir().string())},
                       {"mountpoint", sdbus::Variant(mountpoint)}};
    };
    struct Case {
        const char* what;
        Options options;
        const char* reason;
    };
    std::vector<Case> cases = {
        {"empty name", spec("", free.string()), "name"},
        {"name with /", spec("a/b", free.string()), "/"},
        {"bad characters", spec("a b", free.string()), "name"},
        {"relative mountpoint", spec("x", "relative/dir"), "absolute"},
        {"missing mountpoint", spec("x", (*temp_ / "nowhere").string()), "nowhere"},
        {"mountpoint is a file", spec("x", file.string()), "not a directory"},
        {"mountpoint already mounted", spec("x", mountpointOf("alpha").string()), "mount"},
        {"name taken", spec("alpha", free.string()), "alpha"},
        {"missing key", Options{{"name", sdbus::Variant(std::string("x"))}}, "source"},
        {"unknown key",
         [&] {
             auto o = spec("x", free.string());
             o["colour"] = sdbus::Variant(std::string("red"));
             return o;
         }(),
         "colour"},
        {"wrong type",
         [&] {
             auto o = spec("x", free.string());
             o["name"] = sdbus::Variant(int32_t{7});
             return o;
         }(),
         "name"},
        {"wrong type of a flag",
         [&] {
             auto o = spec("x", free.string());
             o["writable"] = sdbus::Variant(std::string("yes"));
             return o;
         }(),
         "writable"},
    };
    for (const auto& c : cases) {
        CallError error = callError([&] { manager().AddMount(c.options); });
        EXPECT_EQ(error.name, kInvalidArgs) << c.what << ": " << error.message;
        EXPECT_NE(error.message.find(c.reason), std::string::npos)
            << c.what << ": message '" << error.message << "' lacks '" << c.reason << "'";
    }
    EXPECT_EQ(managedNames(manager().GetManagedObjects()), std::set<std::string>{"alpha"});

    // And the good one: added, mounted, listed; RemoveMount forgets it.
    sdbus::ObjectPath path = manager().AddMount(spec("adhoc", free.string()));
    EXPECT_EQ(path, sdbus::ObjectPath(mountPath("adhoc")));
    auto adhoc = mountClient("adhoc");
    EXPECT_EQ(adhoc->State(), "mounted");
    EXPECT_FALSE(adhoc->Configured());
    EXPECT_EQ(readFile(free / "hello.txt"), "hello from main\n");
    EXPECT_EQ(managedNames(manager().GetManagedObjects()),
              (std::set<std::string>{"alpha", "adhoc"}));

    CallError configured = callError([&] { manager().RemoveMount("alpha", noOptions()); });
    EXPECT_EQ(configured.name, kInvalidArgs);
    EXPECT_NE(configured.message.find("configuration"), std::string::npos) << configured.message;
    EXPECT_EQ(callError([&] { manager().RemoveMount("nope", noOptions()); }).name, kNotFound);

    manager().RemoveMount("adhoc", noOptions());
    EXPECT_FALSE(isFuseMount(free));
    EXPECT_EQ(managedNames(manager().GetManagedObjects()), std::set<std::string>{"alpha"});
}

TEST_F(ServiceTest, BusctlAndGdbusSpeakTheContract) {
    writeConfig({{"alpha", repoDir().string()}, {"beta", repoDir().string(), "main", false}});
    startDaemon();
    const std::string beta = mountPath("beta");

    auto tree = busctl(address(), {"tree", "com.gitmega.MegaFuse1"});
    ASSERT_TRUE(tree.ok()) << tree.describe();
    EXPECT_NE(tree.out.find(mountPath("alpha")), std::string::npos) << tree.out;

    auto objects = busctl(address(), {"call", "com.gitmega.MegaFuse1", "/com/gitmega/MegaFuse1",
                                      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"});
    ASSERT_TRUE(objects.ok()) << objects.describe();
    EXPECT_NE(objects.out.find("\"alpha\""), std::string::npos) << objects.out;
    EXPECT_NE(objects.out.find("\"beta\""), std::string::npos) << objects.out;

    // ListMounts: the same values in one typed reply (what megactl list reads), sorted by name.
    auto rows = busctl(address(), {"call", "com.gitmega.MegaFuse1", "/com/gitmega/MegaFuse1",
                                   "com.gitmega.MegaFuse1.Manager", "ListMounts"});
    ASSERT_TRUE(rows.ok()) << rows.describe();
    EXPECT_EQ(
        rows.out.rfind("a(ossssssbbbsstttta{sv}) 2 \"" + mountPath("alpha") + "\" \"alpha\"", 0),
        0U)
        << rows.out;
    EXPECT_LT(rows.out.find("\"mounted\""), rows.out.find("\"beta\"")) << rows.out;
    EXPECT_GT(rows.out.find("\"unmounted\""), rows.out.find("\"beta\"")) << rows.out;

    auto state = [&] {
        auto r = busctl(address(), {"get-property", "com.gitmega.MegaFuse1", beta,
                                    "com.gitmega.MegaFuse1.Mount", "State"});
        return r.out;
    };
    EXPECT_EQ(state(), "s \"unmounted\"\n");
    auto mount = busctl(address(), {"call", "com.gitmega.MegaFuse1", beta,
                                    "com.gitmega.MegaFuse1.Mount", "Mount", "a{sv}", "0"});
    ASSERT_TRUE(mount.ok()) << mount.describe();
    EXPECT_EQ(state(), "s \"mounted\"\n");
    EXPECT_TRUE(isFuseMount(mountpointOf("beta")));

    auto again = busctl(address(), {"call", "com.gitmega.MegaFuse1", beta,
                                    "com.gitmega.MegaFuse1.Mount", "Mount", "a{sv}", "0"});
    EXPECT_FALSE(again.ok());
    EXPECT_NE(again.err.find("already mounted"), std::string::npos) << again.err;

    auto badType =
        busctl(address(), {"call", "com.gitmega.MegaFuse1", beta, "com.gitmega.MegaFuse1.Mount",
                           "Unmount", "a{sv}", "1", "lazy", "s", "yes"});
    EXPECT_FALSE(badType.ok());
    EXPECT_NE(badType.err.find("lazy"), std::string::npos) << badType.err;

    auto unmount =
        busctl(address(), {"call", "com.gitmega.MegaFuse1", beta, "com.gitmega.MegaFuse1.Mount",
                           "Unmount", "a{sv}", "1", "lazy", "b", "false"});
    ASSERT_TRUE(unmount.ok()) << unmount.describe();
    EXPECT_EQ(state(), "s \"unmounted\"\n");

    auto add = busctl(address(), {"call", "com.gitmega.MegaFuse1", "/com/gitmega/MegaFuse1",
                                  "com.gitmega.MegaFuse1.Manager", "AddMount", "a{sv}", "3", "name",
                                  "s", "viabusctl", "source", "s", fileUrl(), "mountpoint", "s",
                                  temp_->makeDir("mnt/viabusctl").string()});
    ASSERT_TRUE(add.ok()) << add.describe() << "\n" << daemonLog();
    EXPECT_EQ(add.out, "o \"" + mountPath("viabusctl") + "\"\n");
    EXPECT_EQ(readFile(mountpointOf("viabusctl") / "dir" / "b.txt"), "file b\n");

    // gdbus prints the error name, so the mapping is visible from a third client.
    auto notMounted = gdbusCall(address(), beta, "com.gitmega.MegaFuse1.Mount.Unmount", {"{}"});
    EXPECT_FALSE(notMounted.ok());
    EXPECT_NE(notMounted.err.find(kNotMounted), std::string::npos) << notMounted.err;
    auto notFound = gdbusCall(address(), "/com/gitmega/MegaFuse1",
                              "com.gitmega.MegaFuse1.Manager.ResolveMount", {"nope"});
    EXPECT_NE(notFound.err.find(kNotFound), std::string::npos) << notFound.err;
    auto removed = gdbusCall(address(), "/com/gitmega/MegaFuse1",
                             "com.gitmega.MegaFuse1.Manager.RemoveMount", {"viabusctl", "{}"});
    EXPECT_TRUE(removed.ok()) << removed.describe();
    EXPECT_FALSE(isFuseMount(mountpointOf("viabusctl")));
}

TEST_F(ServiceTest, TwentyMountsOfThreeSourcesAtOnce) {
    std::vector<MountEntrySpec> mounts;
    const std::string sources[3] = {repoDir().string(), fileUrl(), gitUrl()};
    mounts.reserve(20);
    for (int i = 0; i < 20; ++i) {
        mounts.push_back({"m" + std::to_string(i), sources[i % 3], i % 2 == 0 ? "main" : "other"});
    }
    writeConfig(mounts);
    startDaemon();
    for (int i = 0; i < 20; ++i) {
        const std::string name = "m" + std::to_string(i);
        EXPECT_EQ(stateOf(name), "mounted") << name << "\n" << daemonLog();
        EXPECT_EQ(readFile(mountpointOf(name) / "hello.txt"),
                  i % 2 == 0 ? "hello from main\n" : "hello from other\n")
            << name;
    }
    EXPECT_NE(notify().received().find("20 mounts, 20 mounted"), std::string::npos)
        << notify().received();
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

TEST_F(ServiceTest, MountAndUnmountOneWhileOthersAreRead) {
    writeConfig({{"alpha", repoDir().string()},
                 {"beta", fileUrl()},
                 {"gamma", repoDir().string(), "other", false}});
    startDaemon();
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::atomic<int> reads{0};
    std::vector<std::thread> readers;
    // Joins the readers in every outcome (an assertion that throws must not leave them).
    struct JoinAll {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~JoinAll() {
            stop = true;
            for (auto& thread : threads) {
                if (thread.joinable()) {
                    thread.join();
                }
            }
        }
    } joinAll{stop, readers};
    for (const char* name : {"alpha", "beta"}) {
        readers.emplace_back([&, name] {
            while (!stop) {
                if (readFile(mountpointOf(name) / "dir" / "a.txt") != "file a\n") {
                    ++failures;
                }
                ++reads;
            }
        });
    }
    auto gamma = mountClient("gamma");
    for (int i = 0; i < 5; ++i) {
        gamma->Mount(noOptions());
        EXPECT_EQ(readFile(mountpointOf("gamma") / "hello.txt"), "hello from other\n");
        gamma->Unmount(noOptions());
    }
    stop = true;
    for (auto& reader : readers) {
        reader.join();
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(stateOf("alpha"), "mounted");
    EXPECT_EQ(stateOf("beta"), "mounted");
}

TEST_F(ServiceTest, ReloadAddsRemovesRemountsAndLeavesUnchangedAlone) {
    writeConfig({{"keep", repoDir().string()},
                 {"change", repoDir().string(), "main"},
                 {"drop", repoDir().string()}});
    startDaemon();
    // Open folders keep each superblock (and its device number) alive, so a remount must show
    // a new st_dev; the one in "change" also makes its remount take the lazy path.
    UniqueFd keepHeld(::open(mountpointOf("keep").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd changeHeld(::open(mountpointOf("change").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(keepHeld && changeHeld);
    const unsigned long keepDevice = deviceOf(mountpointOf("keep"));
    const unsigned long changeDevice = deviceOf(mountpointOf("change"));
    ASSERT_NE(keepDevice, 0U);
    EXPECT_EQ(readFile(mountpointOf("change") / "hello.txt"), "hello from main\n");

    writeConfig({{"keep", repoDir().string()},
                 {"change", repoDir().string(), "other"},
                 {"fresh", fileUrl()}});
    manager().Reload();
    ASSERT_TRUE(waitForState("fresh", "mounted")) << daemonLog();
    ASSERT_TRUE(waitForState("change", "mounted")) << daemonLog();
    // Removal is asynchronous: wait until the object is gone.
    for (int i = 0; i < 600 && managedNames(manager().GetManagedObjects()).contains("drop"); ++i) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(managedNames(manager().GetManagedObjects()),
              (std::set<std::string>{"keep", "change", "fresh"}));
    EXPECT_FALSE(isFuseMount(mountpointOf("drop")));
    EXPECT_EQ(deviceOf(mountpointOf("keep")), keepDevice) << "an unchanged mount was remounted";
    EXPECT_NE(deviceOf(mountpointOf("change")), changeDevice);
    EXPECT_EQ(mountClient("change")->Revision(), "other");
    EXPECT_EQ(readFile(mountpointOf("change") / "hello.txt"), "hello from other\n");
    EXPECT_EQ(readFile(mountpointOf("fresh") / "dir" / "b.txt"), "file b\n");

    // An invalid file: InvalidConfig with file:line:column, nothing changes.
    writeRawConfig("mounts:\n  - name: keep\n    source: 42x\n    mountpointt: /x\n");
    CallError invalid = callError([&] { manager().Reload(); });
    EXPECT_EQ(invalid.name, kInvalidConfig);
    EXPECT_NE(invalid.message.find(configFile().string() + ":4:"), std::string::npos)
        << invalid.message;
    EXPECT_EQ(managedNames(manager().GetManagedObjects()),
              (std::set<std::string>{"keep", "change", "fresh"}));
    EXPECT_EQ(deviceOf(mountpointOf("keep")), keepDevice);

    // SIGHUP reloads too (RELOADING=1 ... READY=1 around it).
    writeConfig({{"keep", repoDir().string()}});
    ::kill(daemon_->pid(), SIGHUP);
    ASSERT_TRUE(notify().waitFor("RELOADING=1", 60s)) << notify().received();
    ASSERT_TRUE(notify().waitFor("READY=1", 60s)) << notify().received();
    for (int i = 0; i < 600 && managedNames(manager().GetManagedObjects()).size() != 1; ++i) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(managedNames(manager().GetManagedObjects()), std::set<std::string>{"keep"});
    EXPECT_EQ(deviceOf(mountpointOf("keep")), keepDevice);
    EXPECT_FALSE(isFuseMount(mountpointOf("fresh")));
}

TEST_F(ServiceTest, UnreachableSourceFailsAloneWithLastError) {
    // A port nobody listens on: the clone fails, the others mount.
    writeConfig({{"alpha", repoDir().string()},
                 {"dead", "git://127.0.0.1:1/nothing.git"},
                 {"beta", fileUrl()}});
    startDaemon();
    EXPECT_EQ(stateOf("alpha"), "mounted");
    EXPECT_EQ(stateOf("beta"), "mounted");
    auto dead = mountClient("dead");
    EXPECT_EQ(dead->State(), "failed");
    EXPECT_FALSE(dead->LastError().empty());
    EXPECT_NE(notify().received().find("1 failed: dead"), std::string::npos) << notify().received();
    CallError retry = callError([&] { dead->Mount(noOptions()); });
    EXPECT_TRUE(retry.name == "com.gitmega.MegaFuse1.Error.MountFailed" ||
                retry.name == "com.gitmega.MegaFuse1.Error.Timeout")
        << retry.name << ": " << retry.message;
    EXPECT_EQ(dead->State(), "failed");
    EXPECT_EQ(readFile(mountpointOf("alpha") / "hello.txt"), "hello from main\n");
}

TEST_F(ServiceTest, RestartAfterKillBringsMountsBackAndClearsStaleMountpoints) {
    writeConfig({{"alpha", repoDir().string()},
                 {"beta", repoDir().string(), "other", false},
                 {"gamma", repoDir().string(), "main", false}});
    startDaemon();
    mountClient("beta")->Mount(noOptions());  // mounted by hand: must come back
    const fs::path adhocDir = temp_->makeDir("mnt/adhoc");
    manager().AddMount({{"name", sdbus::Variant(std::string("adhoc"))},
                        {"source", sdbus::Variant(repoDir().string())},
                        {"mountpoint", sdbus::Variant(adhocDir.string())}});
    ASSERT_TRUE(isFuseMount(adhocDir));

    killDaemonHard();
    // The kernel still lists the mounts; they answer ENOTCONN (statfs always asks the daemon).
    struct statfs sfs {};
    EXPECT_NE(::statfs(mountpointOf("alpha").c_str(), &sfs), 0);
    EXPECT_EQ(errno, ENOTCONN);
    EXPECT_TRUE(isFuseMount(adhocDir));

    startDaemon();
    EXPECT_EQ(stateOf("alpha"), "mounted") << daemonLog();
    EXPECT_EQ(stateOf("beta"), "mounted") << daemonLog();
    EXPECT_EQ(stateOf("gamma"), "unmounted");
    EXPECT_EQ(readFile(mountpointOf("alpha") / "hello.txt"), "hello from main\n");
    EXPECT_EQ(readFile(mountpointOf("beta") / "hello.txt"), "hello from other\n");
    // The ad-hoc mount is gone with the daemon that had it, and its folder works again.
    EXPECT_FALSE(managedNames(manager().GetManagedObjects()).contains("adhoc"));
    EXPECT_EQ(::statfs(adhocDir.c_str(), &sfs), 0) << std::strerror(errno);
    EXPECT_FALSE(isFuseMount(adhocDir));
    EXPECT_FALSE(isFuseMount(mountpointOf("gamma")));
}

TEST_F(ServiceTest, NoConfigFileMeansNoMounts) {
    startDaemon();  // config.yaml was never written
    EXPECT_TRUE(manager().GetManagedObjects().empty());
    EXPECT_NE(daemonLog().find("no configuration file"), std::string::npos) << daemonLog();
    // Once written, a Reload picks it up.
    writeConfig({{"alpha", repoDir().string()}});
    manager().Reload();
    EXPECT_TRUE(waitForState("alpha", "mounted")) << daemonLog();
}

TEST_F(ServiceTest, DemoServesTheBuiltInConfiguration) {
    const fs::path mountpoint = temp_->makeDir("mnt/demo");
    startDaemon({"--demo", repoDir().string(), mountpoint.string()});
    EXPECT_EQ(manager().ConfigPath(), "<built-in default>");
    EXPECT_EQ(managedNames(manager().GetManagedObjects()), std::set<std::string>{"demo"});
    EXPECT_EQ(stateOf("demo"), "mounted");
    EXPECT_EQ(readFile(mountpoint / "hello.txt"), "hello from main\n");
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
    EXPECT_FALSE(isFuseMount(mountpoint));
}

}  // namespace
}  // namespace megafuse::test
