// ServiceDaemon: mega-fused in service mode (no subcommand, --config FILE) on a test's private
// session bus, with every XDG folder inside the test's temp dir. The destructor stops it (SIGTERM,
// then SIGKILL of its group) and unmounts whatever it left, in every outcome.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/ChildProcess.hpp"

namespace megafuse::test {

class SessionBus;

class ServiceDaemon {
public:
    // $MEGAFUSED_BIN, else the build's bin/mega-fused (compile-time MEGAFUSED_BIN).
    static std::filesystem::path binary();
    // True when the binary exists and has a service mode (its --help offers --config); tests
    // that need the daemon skip, not fail, until then.
    static bool available();

    // Starts it and waits (bounded) until it owns com.gitmega.MegaFuse1. mountPoints are the
    // folders teardown unmounts if the daemon leaves them mounted. Throws HarnessError (with the
    // daemon's log) when it exits or does not come up.
    ServiceDaemon(const std::filesystem::path& configFile, const SessionBus& bus,
                  const std::filesystem::path& home,
                  std::vector<std::filesystem::path> mountPoints);
    ~ServiceDaemon();
    ServiceDaemon(const ServiceDaemon&) = delete;
    ServiceDaemon& operator=(const ServiceDaemon&) = delete;

    [[nodiscard]] pid_t pid() const { return process_->pid(); }
    [[nodiscard]] std::string log() const;
    // SIGKILL: what leaves stale mounts behind.
    void kill();

private:
    std::filesystem::path logFile_;
    std::vector<std::filesystem::path> mountPoints_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace megafuse::test
