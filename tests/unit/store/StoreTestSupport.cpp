// StoreTestSupport: temp folders, git CLI repositories, a silent TCP server.
#include "StoreTestSupport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "common/Subprocess.hpp"

namespace megafuse::test {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/megafuse-store-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string readAll(const UniqueFd& fd) {
    std::string out;
    std::array<char, 4096> buffer{};
    off_t offset = 0;
    while (true) {
        const ssize_t got = ::pread(fd.get(), buffer.data(), buffer.size(), offset);
        if (got <= 0) {
            return out;
        }
        out.append(buffer.data(), static_cast<size_t>(got));
        offset += got;
    }
}

std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"git",
                                     "-C",
                                     dir.string(),
                                     "-c",
                                     "user.name=Test",
                                     "-c",
                                     "user.email=test@example.com",
                                     "-c",
                                     "init.defaultBranch=main"};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.extraEnvironment = {{"GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z"},
                                {"GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"},
                                {"GIT_CONFIG_NOSYSTEM", "1"},
                                {"GIT_TERMINAL_PROMPT", "0"}};
    options.timeout = std::chrono::seconds(60);
    auto result = runSubprocess(argv, options);
    if (!result.ok()) {
        std::string joined;
        for (const auto& a : args) {
            joined += " " + a;
        }
        throw std::runtime_error("git" + joined + ": " + result.describe());
    }
    std::string out = result.out;
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

void writeFile(const std::filesystem::path& file, const std::string& content) {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
        throw std::runtime_error("write " + file.string());
    }
}

SampleRepo makeSampleRepo(const std::filesystem::path& dir) {
    SampleRepo repo;
    repo.path = dir;
    std::filesystem::create_directories(dir);
    git(dir, {"init", "--quiet"});
    git(dir, {"config", "uploadpack.allowFilter", "true"});
    git(dir, {"config", "uploadpack.allowAnySHA1InWant", "true"});
    writeFile(dir / "README.md", "hello\n");
    writeFile(dir / "empty.txt", "");
    writeFile(dir / "bin/run.sh", "#!/bin/sh\necho run\n");
    std::filesystem::permissions(dir / "bin/run.sh", std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    std::filesystem::create_symlink("README.md", dir / "link");
    writeFile(dir / "a/b/c/deep.txt", "deep\n");
    writeFile(dir / "odd name \xc3\xbc #1.txt", "odd\n");
    writeFile(dir / "-dash", "dash\n");
    writeFile(dir / "tab\tname", "tab\n");
    git(dir, {"add", "-A"});
    // A submodule entry without a submodule checkout: the gitlink is what the store must see.
    git(dir, {"update-index", "--add", "--cacheinfo",
              "160000,1111111111111111111111111111111111111111,sub"});
    git(dir, {"commit", "--quiet", "-m", "first"});
    repo.firstCommit = git(dir, {"rev-parse", "HEAD"});
    git(dir, {"tag", "v1"});
    writeFile(dir / "second.txt", "second\n");
    git(dir, {"add", "second.txt"});
    git(dir, {"commit", "--quiet", "-m", "second"});
    repo.secondCommit = git(dir, {"rev-parse", "HEAD"});
    git(dir, {"tag", "-a", "-m", "annotated", "v1-annotated"});
    git(dir, {"checkout", "--quiet", "-b", "feature"});
    writeFile(dir / "feature.txt", "feature\n");
    git(dir, {"add", "feature.txt"});
    git(dir, {"commit", "--quiet", "-m", "third"});
    repo.featureCommit = git(dir, {"rev-parse", "HEAD"});
    git(dir, {"checkout", "--quiet", "main"});
    return repo;
}

SilentServer::SilentServer() : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!listener_) {
        throw std::system_error(errno, std::generic_category(), "socket");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 16) != 0) {
        throw std::system_error(errno, std::generic_category(), "bind/listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    stopRead_ = UniqueFd(fds[0]);
    stopWrite_ = UniqueFd(fds[1]);
    thread_ = std::thread([this] {
        std::vector<UniqueFd> held;  // accepted and kept open, silent, until the server stops
        while (true) {
            pollfd waitFor[2] = {{listener_.get(), POLLIN, 0}, {stopRead_.get(), POLLIN, 0}};
            if (::poll(waitFor, 2, -1) < 0) {
                continue;
            }
            if (waitFor[1].revents != 0) {
                return;
            }
            if ((waitFor[0].revents & POLLIN) != 0) {
                // cppcheck-suppress nullPointer ; accept4 takes null address buffers (POSIX)
                held.emplace_back(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            }
        }
    });
}

SilentServer::~SilentServer() {
    stopWrite_.reset();  // EOF on stopRead_ wakes the thread
    thread_.join();
}

}  // namespace megafuse::test
