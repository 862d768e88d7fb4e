// FsTestSupport: temp folders, the test repository, the mount table and the daemon process.
#include "FsTestSupport.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "common/Subprocess.hpp"

extern char** environ;

namespace megafuse::test {
namespace {

std::string unescapeMountinfo(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
            i += 3;
        } else {
            out.push_back(field[i]);
        }
    }
    return out;
}

void writeFile(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

}  // namespace

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/megafuse-fs-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string skip, point;
        fields >> skip >> skip >> skip >> skip >> point;
        if (unescapeMountinfo(point).rfind(path_.string(), 0) == 0) {
            return;  // never walk into a mount: leaving a folder beats hanging or deleting data
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-C", dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    const std::string date = "@" + std::to_string(TestRepo::kCommitTime) + " +0000";
    options.extraEnvironment = {
        {"GIT_AUTHOR_NAME", "Test"},    {"GIT_AUTHOR_EMAIL", "test@example.com"},
        {"GIT_COMMITTER_NAME", "Test"}, {"GIT_COMMITTER_EMAIL", "test@example.com"},
        {"GIT_AUTHOR_DATE", date},      {"GIT_COMMITTER_DATE", date},
        {"GIT_CONFIG_NOSYSTEM", "1"},   {"HOME", dir.string()}};
    SubprocessResult result = runSubprocess(argv, options);
    if (!result.ok()) {
        throw std::runtime_error("git " + (args.empty() ? "" : args[0]) + ": " + result.describe());
    }
    std::string out = result.out;
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

std::string TestRepo::dataBytes() {
    std::string data(kDataBytes, '\0');
    uint32_t x = 2463534242U;
    for (char& c : data) {  // xorshift: incompressible, deterministic
        x ^= x << 13U;
        x ^= x >> 17U;
        x ^= x << 5U;
        c = static_cast<char>(x & 0xffU);
    }
    return data;
}

TestRepo makeTestRepo(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    git(dir, {"init", "-q", "-b", "main"});
    writeFile(dir / "README.md", "hello mega-fuse\n");
    writeFile(dir / "bin/run.sh", "#!/bin/sh\necho run\n");
    std::filesystem::permissions(dir / "bin/run.sh", std::filesystem::perms(0755));
    writeFile(dir / "src/lib/deep.txt", "deep\n");
    writeFile(dir / "src/lib/data.bin", TestRepo::dataBytes());
    writeFile(dir / "name with spaces.txt", "spaces\n");
    for (int i = 0; i < TestRepo::kManyFiles; ++i) {
        const std::string name = (i < 10 ? "f0" : "f") + std::to_string(i);
        writeFile(dir / "many" / name, "file " + std::to_string(i) + "\n");
    }
    std::filesystem::create_symlink("README.md", dir / "link");
    std::filesystem::create_symlink("src/lib", dir / "dirlink");
    git(dir, {"add", "-A"});
    git(dir, {"update-index", "--add", "--cacheinfo",
              "160000,1234567890123456789012345678901234567890,vendor/sub"});
    git(dir, {"commit", "-q", "-m", "test tree"});
    return TestRepo{dir, git(dir, {"rev-parse", "HEAD"})};
}

bool isFuseMounted(const std::filesystem::path& path) {
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string skip, point;
        fields >> skip >> skip >> skip >> skip >> point;
        const auto separator = line.find(" - ");
        if (separator != std::string::npos && line.compare(separator + 3, 4, "fuse") == 0 &&
            unescapeMountinfo(point) == path.string()) {
            return true;
        }
    }
    return false;
}

bool waitMountState(const std::filesystem::path& path, bool want,
                    std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (isFuseMounted(path) != want) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

MountCleanup::~MountCleanup() {
    for (const char* flags : {"-u", "-uz"}) {
        if (!isFuseMounted(path_)) {
            return;
        }
        runSubprocess({"fusermount3", flags, "--", path_.string()});
    }
}

std::filesystem::path DaemonProcess::binary() {
    return MEGAFUSED_BINARY;
}

DaemonProcess::DaemonProcess(const std::vector<std::string>& args, std::filesystem::path logFile)
    : logFile_(std::move(logFile)) {
    std::vector<std::string> argv{binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargs;
    cargs.reserve(argv.size() + 1);
    for (auto& arg : argv) {
        cargs.push_back(arg.data());
    }
    cargs.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logFile_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const int rc = ::posix_spawn(&pid_, cargs[0], &actions, &attr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        throw std::system_error(rc, std::generic_category(), "spawn " + argv[0]);
    }
}

DaemonProcess::~DaemonProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
}

void DaemonProcess::signal(int signal) const {
    ::kill(pid_, signal);
}

std::optional<int> DaemonProcess::waitExit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!reaped()) {
        if (std::chrono::steady_clock::now() > end) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exitStatus_;
}

std::string DaemonProcess::log() const {
    std::ifstream in(logFile_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

bool DaemonProcess::waitForLog(const std::string& text, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (log().find(text) != std::string::npos) {
            return true;
        }
        if (std::chrono::steady_clock::now() > end || reaped()) {
            return log().find(text) != std::string::npos;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool DaemonProcess::reaped() {
    if (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            exitStatus_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    }
    return pid_ <= 0;
}

std::vector<pid_t> childrenNamed(pid_t parent, const std::string& name) {
    std::vector<pid_t> found;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string pidText = entry.path().filename().string();
        if (pidText.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream statFile(entry.path() / "stat");
        std::string stat;
        std::getline(statFile, stat);
        // pid (comm) state ppid ...: comm may hold spaces, so parse around the last ')'.
        const auto open = stat.find('(');
        const auto close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos) {
            continue;
        }
        std::istringstream rest(stat.substr(close + 1));
        std::string state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && stat.substr(open + 1, close - open - 1) == name) {
            found.push_back(static_cast<pid_t>(std::stol(pidText)));
        }
    }
    return found;
}

}  // namespace megafuse::test
