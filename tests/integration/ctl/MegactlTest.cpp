// MegactlTest: megactl end to end — argument parsing, exit codes, the one-line error for an
// absent daemon, doctor's findings — and, with the real mega-fused on a private bus, list, status,
// mount, unmount, reload and --json against real FUSE mounts.
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "MegactlFixture.hpp"
#include "StaleFuseMount.hpp"
#include "common/UniqueFd.hpp"
#include "support/Mounts.hpp"
#include "support/SampleRepo.hpp"

namespace megafuse::test {
namespace {

constexpr const char* kNotRunning =
    "megactl: mega-fused is not running on the session bus: start it with "
    "`systemctl --user start mega-fuse`\n";

// ---- no daemon ----------------------------------------------------------------------------

TEST_F(MegactlTest, VersionPrintsAndExitsZero) {
    const auto result = megactl({"--version"});
    EXPECT_EQ(result.exitCode, 0) << describe(result);
    EXPECT_EQ(result.out.rfind("megactl ", 0), 0U) << result.out;
}

TEST_F(MegactlTest, HelpDocumentsEveryExitCode) {
    const auto result = megactl({"--help"});
    EXPECT_EQ(result.exitCode, 0) << describe(result);
    for (const char* line : {"0  success", "1  failure", "2  usage", "3  no such mount",
                             "4  mega-fused unreachable", "5  state conflict"}) {
        EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
    }
}

TEST_F(MegactlTest, UsageErrorsExitTwoWithOneLine) {
    const std::vector<std::vector<std::string>> badCommandLines{
        {},
        {"no-such-command"},
        {"unmount"},
        {"unmount", "demo", "--force", "--lazy"},
        {"--timeout", "0", "list"},
        {"list", "--no-such-option"},
        // Ad-hoc options without a MOUNTPOINT: refused before any call to the daemon.
        {"mount", "demo", "--rev", "main"},
    };
    for (const auto& args : badCommandLines) {
        const auto result = megactl(args);
        std::string joined;
        for (const auto& arg : args) {
            joined += arg + " ";
        }
        EXPECT_EQ(result.exitCode, 2) << joined << describe(result);
        EXPECT_TRUE(isOneLine(result.err)) << joined << describe(result);
        EXPECT_EQ(result.err.rfind("megactl: ", 0), 0U) << joined << describe(result);
    }
}

TEST_F(MegactlTest, AbsentDaemonIsOneSentenceAndExitFour) {
    const std::vector<std::vector<std::string>> commands{
        {"list"},
        {"status"},
        {"status", "demo"},
        {"mount", "demo"},
        {"unmount", "demo"},
        {"reload"},
        {"prefetch", "demo"},
        {"stats", "demo"},
        {"--json", "list"},
        {"mount", "/src", "/mnt/x"},
        {"unmount", "/mnt/x"},
    };
    for (const auto& args : commands) {
        const auto result = megactl(args);
        EXPECT_EQ(result.exitCode, 4) << args.front() << " " << describe(result);
        EXPECT_EQ(result.err, kNotRunning) << args.front();
        EXPECT_EQ(result.out, "") << args.front();
    }
}

TEST_F(MegactlTest, NoSessionBusExitsFour) {
    const auto result =
        megactl({"list"}, {{"DBUS_SESSION_BUS_ADDRESS", "unix:path=" + (tmp_ / "nobus").string()}});
    EXPECT_EQ(result.exitCode, 4) << describe(result);
    EXPECT_TRUE(isOneLine(result.err)) << describe(result);
    EXPECT_NE(result.err.find("session bus"), std::string::npos) << result.err;
}

TEST_F(MegactlTest, DoctorReportsAbsentDaemonWithFix) {
    const auto human = megactl({"doctor"});
    EXPECT_EQ(human.exitCode, 1) << describe(human);
    EXPECT_NE(human.out.find("mega-fused is not running"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("fix: `systemctl --user start mega-fuse`"), std::string::npos)
        << human.out;

    const auto json = megactl({"--json", "doctor"});
    EXPECT_EQ(json.exitCode, 1) << describe(json);
    EXPECT_TRUE(isOneLine(json.out)) << json.out;
    EXPECT_NE(json.out.find("\"healthy\":false"), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"daemon_reachable\":false"), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"kind\":\"daemon_unreachable\""), std::string::npos) << json.out;
}

TEST_F(MegactlTest, DoctorFindsStaleMount) {
    if (!StaleFuseMount::supported()) {
        GTEST_SKIP() << "needs root and /dev/fuse to make a FUSE mount";
    }
    const StaleFuseMount stale(tmp_ / "stale mount");  // a space: mountinfo escapes it
    ASSERT_TRUE(isFuseMount(stale.mountPoint()));

    const auto human = megactl({"doctor"});
    EXPECT_EQ(human.exitCode, 1) << describe(human);
    EXPECT_NE(human.out.find("stale mount: nothing serves " + stale.mountPoint().string()),
              std::string::npos)
        << human.out;
    EXPECT_NE(human.out.find("fusermount3 -u " + stale.mountPoint().string()), std::string::npos)
        << human.out;

    const auto json = megactl({"--json", "doctor"});
    EXPECT_EQ(json.exitCode, 1) << describe(json);
    EXPECT_NE(json.out.find("{\"kind\":\"stale_mount\",\"subject\":\"" +
                            stale.mountPoint().string() + "\""),
              std::string::npos)
        << json.out;
}

TEST_F(MegactlTest, DoctorReportsInvalidConfigWithPosition) {
    const auto bad = tmp_ / "bad.yaml";
    std::ofstream(bad) << "mounts:\n  - name: x\n    sauce: /tmp\n";
    const auto result = megactl({"--json", "doctor", "--config", bad.string()});
    EXPECT_EQ(result.exitCode, 1) << describe(result);
    EXPECT_NE(result.out.find("\"kind\":\"invalid_config\""), std::string::npos) << result.out;
    EXPECT_NE(result.out.find(bad.string() + ":3:"), std::string::npos) << result.out;
}

// ---- with mega-fused ----------------------------------------------------------------------

TEST_F(MegactlDaemonTest, ListShowsAlignedTableAndJson) {
    const auto table = megactl({"list"});
    ASSERT_EQ(table.exitCode, 0) << describe(table);
    // Header, then demo and second (sorted by name); columns start where the header's do.
    std::istringstream lines(table.out);
    std::string header, demo, second;
    std::getline(lines, header);
    std::getline(lines, demo);
    std::getline(lines, second);
    EXPECT_EQ(header.rfind("NAME", 0), 0U) << table.out;
    const auto stateColumn = header.find("STATE");
    const auto mountColumn = header.find("MOUNTPOINT");
    ASSERT_NE(stateColumn, std::string::npos) << table.out;
    EXPECT_EQ(demo.rfind("demo", 0), 0U) << table.out;
    EXPECT_EQ(demo.substr(stateColumn, 7), "mounted") << table.out;
    EXPECT_EQ(demo.substr(mountColumn), demoMount_.string()) << table.out;
    EXPECT_EQ(second.substr(stateColumn, 9), "unmounted") << table.out;
    EXPECT_NE(demo.find(repo_->mainCommit.substr(0, 12)), std::string::npos) << table.out;

    const auto json = megactl({"list", "--json"});  // global options also after the command
    ASSERT_EQ(json.exitCode, 0) << describe(json);
    EXPECT_TRUE(isOneLine(json.out)) << json.out;
    EXPECT_EQ(json.out.rfind("{\"mounts\":[{\"name\":\"demo\",\"state\":\"mounted\"", 0), 0U)
        << json.out;
    EXPECT_NE(json.out.find("\"commit\":\"" + repo_->mainCommit + "\""), std::string::npos);
    EXPECT_NE(json.out.find("{\"name\":\"second\",\"state\":\"unmounted\""), std::string::npos);
}

TEST_F(MegactlDaemonTest, StatusByNameAndByPathInside) {
    const auto byName = megactl({"status", "demo"});
    ASSERT_EQ(byName.exitCode, 0) << describe(byName);
    EXPECT_NE(byName.out.find("state:"), std::string::npos) << byName.out;
    EXPECT_NE(byName.out.find(repo_->mainCommit), std::string::npos) << byName.out;

    const auto byPath = megactl({"--json", "status", (demoMount_ / SampleRepo::kSubPath).string()});
    ASSERT_EQ(byPath.exitCode, 0) << describe(byPath);
    EXPECT_EQ(byPath.out.rfind("{\"name\":\"demo\",\"state\":\"mounted\"", 0), 0U) << byPath.out;
    EXPECT_NE(byPath.out.find("\"configured\":true"), std::string::npos) << byPath.out;

    const auto daemon = megactl({"--json", "status"});
    ASSERT_EQ(daemon.exitCode, 0) << describe(daemon);
    EXPECT_NE(daemon.out.find("\"config_path\":\"" + configFile_.string() + "\""),
              std::string::npos)
        << daemon.out;

    const auto missing = megactl({"status", "no-such-mount"});
    EXPECT_EQ(missing.exitCode, 3) << describe(missing);
    EXPECT_TRUE(isOneLine(missing.err)) << describe(missing);
}

TEST_F(MegactlDaemonTest, MountAndUnmountConfiguredMountWithConflicts) {
    const auto mounted = megactl({"mount", "second"});
    ASSERT_EQ(mounted.exitCode, 0) << describe(mounted);
    EXPECT_EQ(mounted.out.rfind("mounted second at " + secondMount_.string(), 0), 0U)
        << mounted.out;
    EXPECT_TRUE(isFuseMount(secondMount_));
    EXPECT_EQ(mounted.err, "") << "no progress bar when stderr is not a terminal";

    const auto again = megactl({"mount", "second"});
    EXPECT_EQ(again.exitCode, 5) << describe(again);
    EXPECT_TRUE(isOneLine(again.err)) << describe(again);

    const auto unmounted = megactl({"--json", "unmount", "second"});
    ASSERT_EQ(unmounted.exitCode, 0) << describe(unmounted);
    EXPECT_EQ(unmounted.out, "{\"name\":\"second\",\"mountpoint\":\"" + secondMount_.string() +
                                 "\",\"state\":\"unmounted\",\"removed\":false}\n");
    EXPECT_FALSE(isFuseMount(secondMount_));

    const auto notMounted = megactl({"unmount", "second"});
    EXPECT_EQ(notMounted.exitCode, 5) << describe(notMounted);
    EXPECT_TRUE(isOneLine(notMounted.err)) << describe(notMounted);

    const auto unknown = megactl({"mount", "no-such-mount"});
    EXPECT_EQ(unknown.exitCode, 3) << describe(unknown);
}

TEST_F(MegactlDaemonTest, BusyMountRefusesPlainUnmountLazyDetaches) {
    // An open directory inside the mount makes it busy, as a shell's working directory would.
    UniqueFd inside(::open((demoMount_ / SampleRepo::kSubPath).c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(inside.valid()) << std::strerror(errno);

    const auto busy = megactl({"unmount", "demo"});
    EXPECT_EQ(busy.exitCode, 5) << describe(busy);
    EXPECT_TRUE(isOneLine(busy.err)) << describe(busy);
    EXPECT_NE(busy.err.find("megactl unmount --lazy demo"), std::string::npos) << describe(busy);
    EXPECT_TRUE(isFuseMount(demoMount_));

    const auto lazy = megactl({"unmount", "--lazy", demoMount_.string()});
    EXPECT_EQ(lazy.exitCode, 0) << describe(lazy);
    EXPECT_FALSE(isFuseMount(demoMount_));
}

TEST_F(MegactlDaemonTest, AdHocMountThenUnmountByPathRemovesIt) {
    const auto mountPoint = tmp_.makeDir("mnt/ad hoc");
    const auto added = megactl({"--json", "mount", repo_->dir.string(), mountPoint.string(),
                                "--rev", SampleRepo::kLightweightTag, "--name", "adhoc"});
    ASSERT_EQ(added.exitCode, 0) << describe(added);
    EXPECT_EQ(added.out.rfind("{\"name\":\"adhoc\",\"state\":\"mounted\"", 0), 0U) << added.out;
    EXPECT_NE(added.out.find("\"commit\":\"" + repo_->olderCommit + "\""), std::string::npos)
        << added.out;
    EXPECT_NE(added.out.find("\"configured\":false"), std::string::npos) << added.out;
    EXPECT_TRUE(isFuseMount(mountPoint));

    const auto removed = megactl({"unmount", mountPoint.string()});
    ASSERT_EQ(removed.exitCode, 0) << describe(removed);
    EXPECT_NE(removed.out.find("ad-hoc mount removed"), std::string::npos) << removed.out;
    EXPECT_FALSE(isFuseMount(mountPoint));
    EXPECT_EQ(megactl({"status", "adhoc"}).exitCode, 3);
}

TEST_F(MegactlDaemonTest, BadAdHocArgumentsExitTwo) {
    const auto mountPoint = tmp_.makeDir("mnt/bad");
    const auto result =
        megactl({"mount", repo_->dir.string(), mountPoint.string(), "--name", "bad/name"});
    EXPECT_EQ(result.exitCode, 2) << describe(result);
    EXPECT_TRUE(isOneLine(result.err)) << describe(result);
    EXPECT_FALSE(isFuseMount(mountPoint));
}

TEST_F(MegactlDaemonTest, ReloadRejectsInvalidConfigAndChangesNothing) {
    writeConfig(defaultConfig() + "    no_such_key: 1\n");
    const auto result = megactl({"reload"});
    EXPECT_EQ(result.exitCode, 2) << describe(result);
    EXPECT_EQ(result.err.rfind("megactl: ", 0), 0U) << result.err;
    EXPECT_NE(result.err.find("no_such_key"), std::string::npos) << result.err;
    EXPECT_TRUE(isFuseMount(demoMount_));

    writeConfig(defaultConfig());
    const auto fixed = megactl({"--json", "reload"});
    EXPECT_EQ(fixed.exitCode, 0) << describe(fixed);
    EXPECT_EQ(fixed.out.rfind("{\"reloaded\":true", 0), 0U) << fixed.out;
}

TEST_F(MegactlDaemonTest, ReloadNamesSettingsThatWaitForARestart) {
    writeConfig(defaultConfig() + "max_mounts: 9\n");
    const auto json = megactl({"--json", "reload"});
    EXPECT_EQ(json.exitCode, 0) << describe(json);
    EXPECT_NE(json.out.find("\"restart_pending\":[\"max_mounts\"]"), std::string::npos) << json.out;
    const auto human = megactl({"reload"});
    EXPECT_EQ(human.exitCode, 0) << describe(human);
    EXPECT_NE(human.err.find("max_mounts changed: the daemon applies them when it restarts"),
              std::string::npos)
        << describe(human);

    writeConfig(defaultConfig());
    const auto back = megactl({"--json", "reload"});
    EXPECT_NE(back.out.find("\"restart_pending\":[]"), std::string::npos) << back.out;
}

TEST_F(MegactlDaemonTest, StatsAndPrefetchPrintDocumentedKeys) {
    const auto stats = megactl({"--json", "stats", "demo"});
    ASSERT_EQ(stats.exitCode, 0) << describe(stats);
    for (const char* key : {R"("name":"demo")", "\"objects_fetched\":", "\"bytes_fetched\":",
                            "\"cache_hits\":", "\"cache_misses\":"}) {
        EXPECT_NE(stats.out.find(key), std::string::npos) << key << " in " << stats.out;
    }
    const auto prefetch = megactl({"--json", "prefetch", "demo", SampleRepo::kSubPath});
    ASSERT_EQ(prefetch.exitCode, 0) << describe(prefetch);
    EXPECT_EQ(prefetch.out.rfind("{\"name\":\"demo\",\"paths\":[\"a/b\"],\"objects_fetched\":", 0),
              0U)
        << prefetch.out;
}

TEST_F(MegactlDaemonTest, DoctorTellsStaleMountFromLiveOne) {
    if (!StaleFuseMount::supported()) {
        GTEST_SKIP() << "needs root and /dev/fuse to make a FUSE mount";
    }
    // What a mega-fused killed before its auto_unmount helper ran leaves behind.
    const StaleFuseMount stale(tmp_ / "mnt/stale");
    const auto result = megactl({"--json", "doctor"});
    EXPECT_EQ(result.exitCode, 1) << describe(result);
    EXPECT_NE(result.out.find("\"daemon_reachable\":true"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("{\"kind\":\"stale_mount\",\"subject\":\"" +
                              stale.mountPoint().string() + "\""),
              std::string::npos)
        << result.out;
    // The live mount is not reported; the stale one is the only finding of this test. doctor
    // scans the whole machine, and tests running beside this one may hold stale mounts of their
    // own on purpose, so only subjects under this test's folder count.
    EXPECT_EQ(result.out.find(demoMount_.string()), std::string::npos) << result.out;
    const std::string ours = R"("subject":")" + tmp_.path().string() + "/";
    size_t findings = 0;
    for (size_t at = result.out.find(ours); at != std::string::npos;
         at = result.out.find(ours, at + 1)) {
        ++findings;
    }
    EXPECT_EQ(findings, 1U) << result.out;
}

TEST_F(MegactlDaemonTest, DoctorReportsKilledDaemon) {
    daemon_->kill();
    const auto result = megactl({"--json", "doctor"});
    EXPECT_EQ(result.exitCode, 1) << describe(result);
    EXPECT_NE(result.out.find("\"kind\":\"daemon_unreachable\""), std::string::npos) << result.out;
    // Teardown (ServiceDaemon, then TempDir) unmounts whatever the daemon left at demoMount_.
}

TEST_F(MegactlDaemonTest, DoctorIsHealthyWhenAllIsWell) {
    // Nothing this test set up is a problem. Other tests may hold stale mounts elsewhere on the
    // machine at this moment (doctor rightly reports those), so "healthy" is asserted only when
    // the machine-wide answer is healthy.
    const auto json = megactl({"--json", "doctor"});
    EXPECT_NE(json.out.find("\"daemon_reachable\":true"), std::string::npos) << json.out;
    EXPECT_EQ(json.out.find(tmp_.path().string()), std::string::npos) << json.out;
    if (json.out.find("\"healthy\":true") != std::string::npos) {
        EXPECT_EQ(json.exitCode, 0) << describe(json);
        const auto human = megactl({"doctor"});
        EXPECT_EQ(human.exitCode, 0) << describe(human);
        EXPECT_EQ(human.out.rfind("No problems found", 0), 0U) << human.out;
    } else {
        EXPECT_EQ(json.exitCode, 1) << describe(json);
    }
}

}  // namespace
}  // namespace megafuse::test
