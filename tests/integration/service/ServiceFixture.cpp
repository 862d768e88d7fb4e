// ServiceFixture: setup and teardown of the service tests' world (see the header).
#include "ServiceFixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/UniqueFd.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/MegaFused.hpp"
#include "support/Mounts.hpp"
#include "support/RepoBuilder.hpp"

namespace megafuse::test {

namespace fs = std::filesystem;

void ServiceFixture::SetUp() {
    if (!MegaFused::available()) {
        GTEST_FAIL() << "mega-fused is not built";
    }
    temp_ = std::make_unique<TempDir>("megafuse-svc");
    bus_ = std::make_unique<PrivateBus>(temp_->path());

    RepoBuilder repo(repoDir());
    repo.writeFile("hello.txt", "hello from main\n");
    repo.writeFile("dir/a.txt", "file a\n");
    repo.writeFile("dir/b.txt", "file b\n");
    repo.commit("main: first");
    repo.branch("other", "main");
    repo.switchTo("other");
    repo.writeFile("hello.txt", "hello from other\n");
    repo.commit("other: changed hello");
    repo.switchTo("main");
    allowPartialClone(repoDir());
}

void ServiceFixture::TearDown() {
    manager_.reset();
    connection_.reset();
    if (daemon_) {
        daemon_->stop(std::chrono::seconds(30));
        daemon_.reset();
    }
    if (temp_) {
        for (const auto& mount : mountsBelow(temp_->path())) {
            ADD_FAILURE() << "left mounted after the daemon stopped: " << mount.mountPoint;
            unmountFuse(mount.mountPoint);
        }
    }
    gitDaemon_.reset();
    bus_.reset();
    temp_.reset();
}

std::string ServiceFixture::gitUrl() {
    if (!gitDaemon_) {
        publishBare(repoDir(), *temp_ / "srv" / "sample.git");
        gitDaemon_ = std::make_unique<GitDaemon>(*temp_ / "srv", temp_->makeDir("gitd"));
    }
    return gitDaemon_->url("sample.git");
}

void ServiceFixture::writeRawConfig(const std::string& text) {
    std::ofstream out(configFile(), std::ios::trunc);
    out << text;
    if (!out) {
        throw HarnessError("cannot write " + configFile().string());
    }
}

void ServiceFixture::writeWritableMountConfig(const std::string& globalLines) {
    std::filesystem::create_directories(mountpointOf("w"));
    std::ostringstream text;
    text << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n"
         << "state_dir: \"" << (*temp_ / "state").string() << "\"\n"
         << globalLines << "mounts:\n"
         << "  - name: w\n"
         << "    source: \"" << repoDir().string() << "\"\n"
         << "    mountpoint: \"" << mountpointOf("w").string() << "\"\n"
         << "    writable: true\n";
    writeRawConfig(text.str());
}

void ServiceFixture::writeConfig(const std::vector<MountEntrySpec>& mounts) {
    std::ostringstream text;
    text << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n";
    text << "state_dir: \"" << (*temp_ / "state").string() << "\"\n";
    text << "log_level: debug\n";
    if (mounts.empty()) {
        text << "mounts: []\n";
    } else {
        text << "mounts:\n";
    }
    for (const auto& mount : mounts) {
        fs::create_directories(mountpointOf(mount.name));
        text << "  - name: " << mount.name << "\n"
             << "    source: \"" << mount.source << "\"\n"
             << "    revision: " << mount.revision << "\n"
             << "    mountpoint: \"" << mountpointOf(mount.name).string() << "\"\n"
             << "    automount: " << (mount.automount ? "true" : "false") << "\n";
    }
    writeRawConfig(text.str());
}

void ServiceFixture::startDaemon(std::vector<std::string> arguments) {
    ++daemonStarts_;
    const fs::path socket = *temp_ / ("notify-" + std::to_string(daemonStarts_));
    notify_ = std::make_unique<NotifySocket>(socket);
    ChildOptions options;
    if (arguments.empty()) {
        arguments = {"--config", configFile().string(), "--log-level", "debug"};
    }
    options.argv = {MegaFused::binary().string()};
    options.argv.insert(options.argv.end(), arguments.begin(), arguments.end());
    options.logFile = *temp_ / "daemon.log";
    options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", bus_->address()},
                                {"NOTIFY_SOCKET", socket.string()},
                                {"XDG_CONFIG_HOME", (*temp_ / "xdg-config").string()},
                                {"XDG_STATE_HOME", (*temp_ / "xdg-state").string()},
                                {"XDG_CACHE_HOME", (*temp_ / "xdg-cache").string()}};
    daemon_ = std::make_unique<ChildProcess>(options);
    if (!notify_->waitFor("READY=1", std::chrono::seconds(90))) {
        throw HarnessError("mega-fused sent no READY=1; notify: " + notify_->received() +
                           "\nlog:\n" + daemonLog());
    }
    connection_ = sdbus::createSessionBusConnectionWithAddress(bus_->address());
    manager_ = std::make_unique<ManagerClient>(*connection_);
}

ChildProcess::Status ServiceFixture::stopDaemon() {
    manager_.reset();
    connection_.reset();
    ChildProcess::Status status = daemon_->stop(std::chrono::seconds(30));
    daemon_.reset();
    return status;
}

void ServiceFixture::killDaemonHard() {
    manager_.reset();
    connection_.reset();
    // The unmount helpers of a mount (fusermount3's auto_unmount, fs/'s unmount watcher) run in
    // their own session and would tidy up after the daemon; a crash of the whole service
    // (systemd killing its cgroup) takes them too. Kill exactly the helpers of this test's
    // mountpoints (their command line names fusermount3 and the mountpoint), first.
    const std::string mine = (*temp_ / "mnt").string() + "/";
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string pid = entry.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(entry.path() / "cmdline", std::ios::binary);
        std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (cmdline.find("fusermount3") != std::string::npos &&
            cmdline.find(mine) != std::string::npos) {
            ::kill(std::stoi(pid), SIGKILL);
        }
    }
    daemon_->killGroup();
    daemon_->waitFor(std::chrono::seconds(30));
    daemon_.reset();
}

std::string ServiceFixture::daemonLog() const {
    return tailOfFile((*temp_ / "daemon.log").string());
}

std::unique_ptr<MountClient> ServiceFixture::mountClient(const std::string& name) {
    return std::make_unique<MountClient>(*connection_, mountPath(name));
}

std::string ServiceFixture::stateOf(const std::string& name) {
    return mountClient(name)->State();
}

bool ServiceFixture::waitForState(const std::string& name, const std::string& state,
                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto client = mountClient(name);
    while (true) {
        try {
            if (client->State() == state) {
                return true;
            }
        } catch (const sdbus::Error&) {
            // the object may not exist yet
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::optional<std::string> readFile(const fs::path& path, int* error) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (error != nullptr) {
            *error = errno;
        }
        return std::nullopt;
    }
    std::string data;
    char buffer[65536];
    while (true) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (error != nullptr) {
                *error = errno;
            }
            return std::nullopt;
        }
        if (n == 0) {
            return data;
        }
        data.append(buffer, static_cast<size_t>(n));
    }
}

unsigned long deviceOf(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return 0;
    }
    return st.st_dev;
}

}  // namespace megafuse::test
