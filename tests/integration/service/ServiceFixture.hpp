// ServiceFixture: one test's world for the service — a temp dir, a private session bus, a small
// repository served as several source kinds, a config file, and mega-fused in service mode as a
// child process. Everything it starts is stopped, and every mount below the temp dir unmounted,
// in every outcome. Tests skip (not fail) while mega-fused is not built.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ServiceHarness.hpp"
#include "support/ChildProcess.hpp"
#include "support/GitDaemon.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {

// One mount entry of the config the fixture writes.
struct MountEntrySpec {
    std::string name;
    std::string source;
    std::string revision = "main";
    bool automount = true;
};

class ServiceFixture : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Paths.
    [[nodiscard]] std::filesystem::path repoDir() const { return *temp_ / "repo"; }
    [[nodiscard]] std::filesystem::path configFile() const { return *temp_ / "config.yaml"; }
    [[nodiscard]] std::filesystem::path mountpointOf(const std::string& name) const {
        return *temp_ / "mnt" / name;
    }
    [[nodiscard]] std::string fileUrl() const { return "file://" + repoDir().string(); }
    // A git daemon serving a bare copy of the repository (started on first use).
    std::string gitUrl();

    // Writes config.yaml (cache and state under the temp dir) and creates the mountpoints.
    void writeConfig(const std::vector<MountEntrySpec>& mounts);
    void writeRawConfig(const std::string& text);
    // One writable mount "w" of the local repository, under globalLines (YAML lines, each
    // ending in '\n'); creates its mountpoint.
    void writeWritableMountConfig(const std::string& globalLines = "");

    // Starts mega-fused (service mode) and waits for READY=1 (fails the test with the log when
    // it does not come). Connects the test's D-Bus client.
    // arguments: the command line after the binary (default: --config <configFile()>).
    void startDaemon(std::vector<std::string> arguments = {});
    // SIGTERM and wait; returns the exit status.
    ChildProcess::Status stopDaemon();
    // SIGKILL to the daemon's whole process group (with its fusermount3 helpers): what a crash
    // or systemd's final kill leaves behind.
    void killDaemonHard();
    [[nodiscard]] std::string daemonLog() const;
    [[nodiscard]] std::string address() const { return bus_->address(); }
    NotifySocket& notify() { return *notify_; }

    ManagerClient& manager() { return *manager_; }
    std::unique_ptr<MountClient> mountClient(const std::string& name);
    sdbus::IConnection& connection() { return *connection_; }

    // Polls the State property until it is state (true) or timeout (false).
    bool waitForState(const std::string& name, const std::string& state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));
    std::string stateOf(const std::string& name);

    std::unique_ptr<TempDir> temp_;
    std::unique_ptr<PrivateBus> bus_;
    std::unique_ptr<GitDaemon> gitDaemon_;
    std::unique_ptr<NotifySocket> notify_;
    std::unique_ptr<ChildProcess> daemon_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<ManagerClient> manager_;
    int daemonStarts_ = 0;
};

// The whole file, or nullopt with errno in error.
std::optional<std::string> readFile(const std::filesystem::path& path, int* error = nullptr);
// st_dev of path, 0 when stat fails.
unsigned long deviceOf(const std::filesystem::path& path);

}  // namespace megafuse::test
