// ServiceDaemon: readiness is "owns the bus name" (asked of the bus, not of megactl, so the tool
// under test never decides whether its own fixture is up).
#include "ServiceDaemon.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "SessionBus.hpp"
#include "common/Subprocess.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

constexpr auto kStartWait = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(20);
constexpr const char* kBusName = "com.gitmega.MegaFuse1";

}  // namespace

std::filesystem::path ServiceDaemon::binary() {
    if (const char* fromEnvironment = std::getenv("MEGAFUSED_BIN");
        fromEnvironment != nullptr && *fromEnvironment != '\0') {
        return fromEnvironment;
    }
#ifdef MEGAFUSED_BIN
    return MEGAFUSED_BIN;
#else
    return {};
#endif
}

bool ServiceDaemon::available() {
    const auto path = binary();
    if (path.empty() || ::access(path.c_str(), X_OK) != 0) {
        return false;
    }
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(10);
    const auto help = runSubprocess({path.string(), "--help"}, options);
    return help.out.find("--config") != std::string::npos;
}

ServiceDaemon::ServiceDaemon(const std::filesystem::path& configFile, const SessionBus& bus,
                             const std::filesystem::path& home,
                             std::vector<std::filesystem::path> mountPoints)
    : logFile_(home / "mega-fused.log"), mountPoints_(std::move(mountPoints)) {
    if (!available()) {
        throw HarnessError("mega-fused with a service mode is not built (" + binary().string() +
                           ")");
    }
    ChildOptions options;
    options.argv = {binary().string(), "--config", configFile.string()};
    options.logFile = logFile_;
    options.extraEnvironment = {
        {"DBUS_SESSION_BUS_ADDRESS", bus.address()},
        {"HOME", home.string()},
        {"XDG_CACHE_HOME", (home / ".cache").string()},
        {"XDG_STATE_HOME", (home / ".local/state").string()},
        {"XDG_CONFIG_HOME", (home / ".config").string()},
        {"NOTIFY_SOCKET", ""},  // never talk to a systemd the test did not start
    };
    process_ = std::make_unique<ChildProcess>(options);

    const auto deadline = std::chrono::steady_clock::now() + kStartWait;
    while (!bus.nameHasOwner(kBusName)) {
        std::string problem;
        if (!process_->running()) {
            problem = "mega-fused exited (" + describeStatus(*process_->status()) +
                      ") before owning " + kBusName;
        } else if (std::chrono::steady_clock::now() >= deadline) {
            problem = "mega-fused did not own " + std::string(kBusName) + " within " +
                      std::to_string(kStartWait.count()) + " s";
        }
        if (!problem.empty()) {
            process_->stop(std::chrono::seconds(5));
            for (const auto& mountPoint : mountPoints_) {
                unmountFuse(mountPoint);
            }
            throw HarnessError(problem + "; its log:\n" + tailOfFile(logFile_.string()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

ServiceDaemon::~ServiceDaemon() {
    if (process_->running()) {
        process_->signal(SIGTERM);
        process_->waitFor(kStopGrace);
    }
    process_->stop(std::chrono::seconds(1));
    for (const auto& mountPoint : mountPoints_) {
        if (isFuseMount(mountPoint)) {
            unmountFuse(mountPoint);
        }
    }
    if (::testing::Test::HasFailure()) {
        std::cerr << "---- mega-fused log (" << logFile_.string() << ") ----\n"
                  << tailOfFile(logFile_.string()) << "---- end of mega-fused log ----\n";
    }
}

std::string ServiceDaemon::log() const {
    try {
        return readWholeFile(logFile_.string());
    } catch (const HarnessError&) {
        return {};
    }
}

void ServiceDaemon::kill() {
    process_->killGroup();
    process_->waitFor(std::chrono::seconds(10));
}

}  // namespace megafuse::test
