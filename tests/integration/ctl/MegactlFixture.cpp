// MegactlFixture: the daemon is built per test (a fresh cache and state), which costs a few
// hundred milliseconds and buys tests that cannot see each other's mounts.
#include "MegactlFixture.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {

MegactlTest::MegactlTest() : home_(tmp_.makeDir("home")), bus_(tmp_.path()) {}

SubprocessResult MegactlTest::megactl(const std::vector<std::string>& args,
                                      const std::map<std::string, std::string>& environment) const {
    std::vector<std::string> argv{MEGACTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(120);
    options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", bus_.address()},
                                {"HOME", home_.string()},
                                {"XDG_CONFIG_HOME", (home_ / ".config").string()}};
    for (const auto& [key, value] : environment) {
        options.extraEnvironment[key] = value;
    }
    return runSubprocess(argv, options);
}

std::filesystem::path MegactlTest::writeUserConfig(const std::string& rest) const {
    std::filesystem::path config = home_ / ".config/mega-fuse/config.yaml";
    std::filesystem::create_directories(config.parent_path());
    writeText(config, "cache_dir: " + (tmp_ / "cache").string() + "\n" +
                          "state_dir: " + (tmp_ / "state").string() + "\n" + rest);
    return config;
}

void MegactlDaemonTest::SetUp() {
    if (!ServiceDaemon::available()) {
        GTEST_FAIL() << "mega-fused with a service mode is not built (" << ServiceDaemon::binary()
                     << ")";
    }
    repo_ = SampleRepo::build(tmp_ / "origin");
    demoMount_ = tmp_.makeDir("mnt/demo");
    secondMount_ = tmp_.makeDir("mnt/second");
    configFile_ = home_ / ".config/mega-fuse/config.yaml";
    std::filesystem::create_directories(configFile_.parent_path());
    writeConfig(defaultConfig());
    daemon_ = std::make_unique<ServiceDaemon>(configFile_, bus_, home_,
                                              std::vector{demoMount_, secondMount_});
    ASSERT_TRUE(waitForState("demo", "mounted")) << daemon_->log();
}

void MegactlDaemonTest::TearDown() {
    daemon_.reset();
}

std::string MegactlDaemonTest::defaultConfig() const {
    return "cache_dir: " + (tmp_ / "cache").string() + "\n" +
           "state_dir: " + (tmp_ / "state").string() + "\n" +
           "mounts:\n"
           "  - name: demo\n"
           "    source: " +
           repo_->dir.string() + "\n" +
           "    revision: main\n"
           "    mountpoint: " +
           demoMount_.string() + "\n" +
           "  - name: second\n"
           "    source: " +
           repo_->dir.string() + "\n" +
           "    revision: v1.0\n"
           "    mountpoint: " +
           secondMount_.string() + "\n" + "    automount: false\n";
}

void MegactlDaemonTest::writeConfig(const std::string& text) const {
    std::ofstream out(configFile_, std::ios::trunc);
    out << text;
    if (!out) {
        throw HarnessError("cannot write " + configFile_.string());
    }
}

bool MegactlTest::waitForState(const std::string& name, const std::string& state) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string wanted = R"("state":")" + state + "\"";
    for (;;) {
        const auto result = megactl({"--json", "status", name});
        if (result.ok() && result.out.find(wanted) != std::string::npos) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

bool isOneLine(const std::string& text) {
    return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

std::string describe(const SubprocessResult& result) {
    return "exit " + std::to_string(result.exitCode) + "\nstdout: " + result.out +
           "\nstderr: " + result.err;
}

void writeText(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
        throw std::runtime_error("cannot write " + file.string());
    }
}

std::string readText(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace megafuse::test
