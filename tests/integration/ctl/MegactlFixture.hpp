// MegactlFixture: runs the real megactl binary against a private session bus, with or without a
// real mega-fused in service mode behind it; every process and mount ends with the fixture.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ServiceDaemon.hpp"
#include "SessionBus.hpp"
#include "common/Subprocess.hpp"
#include "support/SampleRepo.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {

// megactl on the fixture's bus, no daemon: the unreachable path, argument parsing, doctor.
class MegactlTest : public ::testing::Test {
protected:
    MegactlTest();

    // Runs `megactl args...` with DBUS_SESSION_BUS_ADDRESS = the private bus and HOME / XDG
    // config inside the temp dir. stdout and stderr are pipes: no progress bar.
    [[nodiscard]] SubprocessResult megactl(
        const std::vector<std::string>& args,
        const std::map<std::string, std::string>& environment = {}) const;
    // Writes the user's config.yaml (cache and state under the temp dir, then rest: settings
    // and mounts) and returns its path.
    [[nodiscard]] std::filesystem::path writeUserConfig(const std::string& rest) const;
    // Polls `megactl --json status name` until the mount reports state (bounded: 30 s).
    [[nodiscard]] bool waitForState(const std::string& name, const std::string& state) const;

    // Members in teardown order, bottom up: the bus outlives nothing it serves.
    TempDir tmp_{"megactl-it"};
    std::filesystem::path home_;
    SessionBus bus_;
};

// The same, plus mega-fused serving a config of two mounts of the sample repository: "demo"
// (main, mounted at start) and "second" (v1.0, automount false).
class MegactlDaemonTest : public MegactlTest {
protected:
    void SetUp() override;
    void TearDown() override;

    // Rewrites the config file (for reload tests).
    void writeConfig(const std::string& text) const;
    [[nodiscard]] std::string defaultConfig() const;

    std::filesystem::path configFile_;
    std::filesystem::path demoMount_;
    std::filesystem::path secondMount_;
    std::optional<SampleRepo> repo_;
    std::unique_ptr<ServiceDaemon> daemon_;
};

// The first line of text, and whether it is the only one.
bool isOneLine(const std::string& text);

// A finished command for a failure message: its exit code, stdout and stderr.
std::string describe(const SubprocessResult& result);

// A whole file's bytes written (throws when it cannot be) or read ("" when it cannot be).
void writeText(const std::filesystem::path& file, const std::string& text);
std::string readText(const std::filesystem::path& file);

}  // namespace megafuse::test
