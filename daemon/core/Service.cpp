// Service: one main loop on one thread — signalfd (SIGTERM/SIGINT stop, SIGHUP reload), the
// sd-bus connection, and a task queue the manager's workers post D-Bus replies and signals to —
// plus the systemd protocol (READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1).
#include "core/Service.hpp"

#include <poll.h>
#include <sdbus-c++/Error.h>
#include <sdbus-c++/IConnection.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <vector>

#include "common/Log.hpp"
#include "common/UniqueFd.hpp"
#include "config/ConfigError.hpp"
#include "config/ConfigLoader.hpp"
#include "dbus/DbusService.hpp"
#include "dbus/ObjectPaths.hpp"
#include "manager/FuseMountBackend.hpp"
#include "manager/MountManager.hpp"

namespace megafuse::core {
namespace {

namespace fs = std::filesystem;
using manager::ManagerErrc;
using manager::ManagerError;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
// Unmounting everything at stop takes at most this long; then connections are aborted. Below
// systemd's default TimeoutStopSec (90 s) so the daemon, not SIGKILL, ends the story.
constexpr std::chrono::seconds kStopBound{20};
// How often the loop looks for sessions that ended outside the daemon and refreshes STATUS.
constexpr std::chrono::milliseconds kHousekeeping{2000};
constexpr const char* kBuiltinName = "<built-in default>";

// WatchdogSec= of the unit, as the interval at which the loop pings (half of it, as
// sd_watchdog_enabled(3) advises); nullopt when systemd watches nothing.
std::optional<std::chrono::microseconds> watchdogInterval() {
    uint64_t usec = 0;
    // unset_environment=0: setenv is not thread-safe, and WATCHDOG_PID keeps children out.
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
        return std::nullopt;
    }
    return std::chrono::microseconds(usec / 2);
}

// Tasks for the main thread, from any thread. The eventfd wakes the loop's poll.
class TaskQueue {
public:
    TaskQueue() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (!wake_) {
            throw std::system_error(errno, std::generic_category(), "eventfd");
        }
    }

    void post(std::function<void()> task) {
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back(std::move(task));
        }
        const uint64_t one = 1;
        (void)!::write(wake_.get(), &one, sizeof one);
    }

    // Runs what is queued now (tasks posted meanwhile wait for the next round).
    void runPending() {
        uint64_t count = 0;
        (void)!::read(wake_.get(), &count, sizeof count);
        std::deque<std::function<void()>> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(tasks_);
        }
        for (auto& task : batch) {
            try {
                task();
            } catch (const std::exception& e) {
                spdlog::error("main-loop task failed: {}", e.what());
            }
        }
    }

    [[nodiscard]] int fd() const { return wake_.get(); }

private:
    UniqueFd wake_;
    // Leaf lock. Length: one task per manager event or reply; events are bounded by the mounts
    // (max_mounts) times the states they pass through, replies by the calls in flight.
    std::mutex mutex_;
    std::deque<std::function<void()>> tasks_;
};

void notifySystemd(const std::string& state) {
    // No NOTIFY_SOCKET (not under systemd): a no-op.
    (void)sd_notify(0, state.c_str());
}

std::string statusLine(const manager::MountManager& mounts) {
    size_t total = 0;
    size_t mounted = 0;
    size_t failed = 0;
    std::string firstFailure;
    for (const auto& info : mounts.list()) {
        ++total;
        if (info.state == manager::MountState::Mounted) {
            ++mounted;
        } else if (info.state == manager::MountState::Failed) {
            if (failed++ == 0) {
                firstFailure = info.config.name + ": " + info.lastError;
            }
        }
    }
    std::string line = std::to_string(total) + (total == 1 ? " mount, " : " mounts, ") +
                       std::to_string(mounted) + " mounted";
    if (failed > 0) {
        line += ", " + std::to_string(failed) + " failed: " + firstFailure;
    }
    // STATUS= is one line.
    for (char& c : line) {
        if (c == '\n') {
            c = ' ';
        }
    }
    return line;
}

std::string formatIssues(const config::ConfigError& error) {
    std::string text;
    for (const auto& issue : error.issues()) {
        if (!text.empty()) {
            text += "\n";
        }
        text += issue.format();
    }
    return text;
}

class Service {
public:
    Service(const ServiceOptions& options, SignalFd& signals)
        : options_(options), signals_(signals) {}

    int run();

private:
    // The configuration as the options say: the demo's, the file's, or none.
    [[nodiscard]] config::Config loadConfig() const;
    void applyLogLevel(const config::Config& config) const;
    void reload();
    // Global keys whose value in next differs from the one the daemon started with, except
    // those a reload applies.
    [[nodiscard]] std::vector<std::string> restartOnlyChanges(
        const config::GlobalSettings& next) const;
    void markReady();
    void updateStatus();
    void loop();
    // Handles every bus message that is ready (none without a bus).
    void processBus();

    const ServiceOptions& options_;
    SignalFd& signals_;
    fs::path configPath_;
    bool demo_ = false;
    config::GlobalSettings started_;           // what the manager and the stores run with
    std::vector<std::string> restartPending_;  // RestartPending on D-Bus
    TaskQueue tasks_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<manager::MountManager> manager_;
    std::unique_ptr<dbus::DbusService> bus_;
    bool ready_ = false;
    bool stopRequested_ = false;
    std::string lastStatus_;
    std::optional<std::chrono::microseconds> watchdog_;
};

config::Config Service::loadConfig() const {
    if (demo_) {
        return config::defaultConfig(options_.demo.at(0), options_.demo.at(1));
    }
    std::error_code ec;
    if (!fs::exists(configPath_, ec)) {
        spdlog::info("no configuration file at {}: running with no mounts", configPath_.string());
        return config::Config{};
    }
    return config::loadConfigFile(configPath_);
}

void Service::applyLogLevel(const config::Config& config) const {
    const std::string& level =
        options_.logLevel.empty() ? config.global.logLevel : options_.logLevel;
    spdlog::set_level(spdlog::level::from_str(level));
}

void Service::reload() {
    const LogScope scope("", "reload");
    notifySystemd("RELOADING=1\nSTATUS=reloading " +
                  (demo_ ? std::string(kBuiltinName) : configPath_.string()));
    lastStatus_.clear();  // READY=1 below is followed by the full status line again
    struct ReadyAgain {
        Service& self;
        ~ReadyAgain() {
            notifySystemd("READY=1");
            self.updateStatus();
        }
    } readyAgain{*this};
    config::Config next;
    try {
        next = loadConfig();
    } catch (const config::ConfigError& e) {
        const std::string issues = formatIssues(e);
        spdlog::error("reload: invalid configuration, keeping the running one:\n{}", issues);
        throw ManagerError(ManagerErrc::InvalidConfig, issues);
    }
    manager_->reload(next);
    applyLogLevel(next);
    restartPending_ = restartOnlyChanges(next.global);
    if (!restartPending_.empty()) {
        std::string keys;
        for (const auto& key : restartPending_) {
            keys += (keys.empty() ? "" : ", ") + key;
        }
        spdlog::warn(
            "reload: {} changed; the running daemon keeps the values it started with "
            "until it is restarted (systemctl --user restart mega-fuse)",
            keys);
    }
}

std::vector<std::string> Service::restartOnlyChanges(const config::GlobalSettings& next) const {
    std::vector<std::string> keys = config::changedGlobalKeys(started_, next);
    // Applied by every reload.
    std::erase(keys, "log_level");
    return keys;
}

void Service::updateStatus() {
    if (!manager_) {
        return;
    }
    std::string status = statusLine(*manager_);
    if (status != lastStatus_) {
        lastStatus_ = status;
        notifySystemd("STATUS=" + status);
    }
}

void Service::markReady() {
    if (ready_) {
        return;
    }
    ready_ = true;
    lastStatus_ = statusLine(*manager_);
    notifySystemd("READY=1\nSTATUS=" + lastStatus_);
    spdlog::info("ready: {}", lastStatus_);
}

void Service::processBus() {
    if (connection_) {
        while (connection_->processPendingRequest()) {
        }
    }
}

void Service::loop() {
    using Clock = std::chrono::steady_clock;
    auto nextHousekeeping = Clock::now() + kHousekeeping;
    // Pinged from here, not from a thread of its own: a loop stuck in a handler stops the pings
    // and systemd restarts the daemon (Restart=on-failure), which is the point of WatchdogSec=.
    auto nextWatchdog = Clock::now();
    while (!stopRequested_) {
        if (watchdog_ && Clock::now() >= nextWatchdog) {
            notifySystemd("WATCHDOG=1");
            nextWatchdog = Clock::now() + *watchdog_;
        }
        processBus();
        tasks_.runPending();
        processBus();

        auto now = std::chrono::steady_clock::now();
        auto timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(nextHousekeeping - now);
        if (watchdog_) {
            timeout =
                std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(nextWatchdog - now));
        }
        pollfd busFd{-1, 0, 0};  // poll skips a negative fd: no bus in the demo fallback
        if (connection_) {
            const auto pollData = connection_->getEventLoopPollData();
            busFd = {pollData.fd, pollData.events, 0};
            if (auto busTimeout = pollData.getRelativeTimeout()) {
                timeout =
                    std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(*busTimeout));
            }
        }
        timeout = std::max(timeout, std::chrono::milliseconds(0));
        std::array<pollfd, 3> fds{{{signals_.fd(), POLLIN, 0}, busFd, {tasks_.fd(), POLLIN, 0}}};
        int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
        if (ready < 0 && errno != EINTR) {
            throw std::system_error(errno, std::generic_category(), "poll");
        }
        while (auto signo = signals_.takePending()) {
            if (*signo == SIGHUP) {
                spdlog::info("SIGHUP: reloading the configuration");
                try {
                    reload();
                } catch (const std::exception& e) {
                    spdlog::error("reload failed: {}", e.what());
                }
            } else {
                // sigabbrev_np, not strsignal: other threads may be naming signals too.
                spdlog::info("SIG{}: stopping", sigabbrev_np(*signo));
                stopRequested_ = true;
            }
        }
        now = std::chrono::steady_clock::now();
        if (now >= nextHousekeeping) {
            nextHousekeeping = now + kHousekeeping;
            manager_->checkSessions();
            if (ready_) {
                updateStatus();
            }
        }
    }
}

int Service::run() {
    demo_ = !options_.demo.empty();
    watchdog_ = watchdogInterval();
    configPath_ = options_.configFile.value_or(config::defaultConfigPath());

    config::Config initial;
    try {
        initial = loadConfig();
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "mega-fused: invalid configuration:\n%s\n", formatIssues(e).c_str());
        return kExitConfig;
    }
    applyLogLevel(initial);
    if (demo_) {
        spdlog::info("demo mode: built-in configuration, mount 'demo' of {} at {}",
                     options_.demo.at(0), options_.demo.at(1));
    } else {
        spdlog::info("configuration {}: {} mounts", configPath_.string(), initial.mounts.size());
    }

    try {
        connection_ = sdbus::createSessionBusConnection();
    } catch (const sdbus::Error& e) {
        if (!demo_) {
            std::fprintf(stderr, "mega-fused: cannot connect to the session bus: %s\n",
                         e.getMessage().c_str());
            return kExitFailure;
        }
        // The demo must run on a bare machine (ssh as root, no user session): serve the mount
        // without the control API rather than not at all.
        spdlog::warn("no session bus ({}): demo runs without the D-Bus API", e.getMessage());
    }

    started_ = initial.global;
    manager_ = std::make_unique<manager::MountManager>(
        std::make_unique<manager::FuseMountBackend>(initial.global),
        manager::ManagerOptions::fromConfig(initial.global));

    dbus::ServiceHooks hooks;
    hooks.post = [this](std::function<void()> task) { tasks_.post(std::move(task)); };
    hooks.reload = [this] { reload(); };
    hooks.configPath = [this] { return demo_ ? std::string(kBuiltinName) : configPath_.string(); };
    hooks.restartPending = [this] { return restartPending_; };
    if (connection_) {
        bus_ = std::make_unique<dbus::DbusService>(*connection_, *manager_, hooks);
        manager_->setListener(bus_.get());
    }

    // Objects first, then the name: a client that sees the name finds the objects.
    try {
        if (connection_) {
            connection_->requestName(dbus::kBusName);
            spdlog::info("owning {} on the session bus", dbus::kBusName);
        }
    } catch (const sdbus::Error& e) {
        std::fprintf(stderr,
                     "mega-fused: cannot own the bus name %s on the session bus: %s (is another "
                     "mega-fused running?)\n",
                     dbus::kBusName, e.getMessage().c_str());
        manager_->setListener(nullptr);
        bus_.reset();
        manager_->shutdown(std::chrono::seconds(0));
        return kExitFailure;
    }
    manager_->start(initial, [this] { tasks_.post([this] { markReady(); }); });
    // start() posted the objects of the configured mounts; export them before the first bus
    // message is read: a D-Bus activated daemon has the activating call (megactl list) queued.
    tasks_.runPending();

    int status = kExitOk;
    try {
        loop();
    } catch (const std::exception& e) {
        spdlog::error("main loop failed: {}", e.what());
        status = kExitFailure;
    }

    const LogScope stopScope("", "stop");
    notifySystemd("STOPPING=1\nSTATUS=stopping: unmounting " +
                  std::to_string(manager_->list().size()) + " mounts");
    const bool idle = manager_->shutdown(kStopBound);
    // Events of the shutdown reach clients while the connection is still up.
    tasks_.runPending();
    try {
        processBus();
    } catch (const std::exception&) {
    }
    manager_->setListener(nullptr);
    bus_.reset();
    try {
        if (connection_) {
            connection_->releaseName(dbus::kBusName);
        }
    } catch (const std::exception&) {
    }
    if (!idle) {
        // A worker is still inside a clone; its own timeout would outlast the stop bound.
        spdlog::warn("exiting with operations still running");
        spdlog::default_logger()->flush();
        std::_Exit(status);
    }
    manager_.reset();
    spdlog::info("stopped");
    return status;
}

}  // namespace

void addServiceOptions(CLI::App& app, ServiceOptions& options) {
    app.add_option("--config", options.configFile,
                   "configuration file (default: ~/.config/mega-fuse/config.yaml)");
    app.add_option("--log-level", options.logLevel,
                   "trace, debug, info, warn, error, off (default: the config's log_level)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_option("--demo", options.demo,
                   "REPO MOUNTPOINT: serve the built-in configuration, one read-only mount of a "
                   "local repository")
        ->expected(2)
        ->excludes("--config");
}

int runService(const ServiceOptions& options, SignalFd& signals) {
    Service service(options, signals);
    return service.run();
}

}  // namespace megafuse::core
