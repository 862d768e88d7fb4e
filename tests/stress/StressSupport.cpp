// StressSupport: /proc readers, the gdb watchdog, the throttling proxy and the repository
// generator of the stress suite.
#include "StressSupport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "common/Subprocess.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/Network.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;

size_t countEntries(const fs::path& dir) {
    std::error_code ec;
    size_t count = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        ++count;
    }
    if (ec) {
        throw HarnessError(dir.string() + ": " + ec.message());
    }
    return count;
}

// Writes all of data to fd; false when the peer is gone.
bool writeAll(int fd, const char* data, size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

int stressScale() {
    // Read-only use of the environment; nothing in the tests calls setenv.
    const char* text = std::getenv("MEGAFUSE_STRESS_SCALE");  // NOLINT(concurrency-mt-unsafe)
    if (text == nullptr || *text == '\0') {
        return 1;
    }
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > 1000) {
        throw HarnessError(std::string("MEGAFUSE_STRESS_SCALE must be a whole number from 1 to "
                                       "1000 (got \"") +
                           text + "\")");
    }
    return static_cast<int>(value);
}

std::string ProcessUsage::describe() const {
    std::ostringstream out;
    out << "fds " << fds << ", threads " << threads << ", RSS " << rssKiB << " KiB";
    return out.str();
}

ProcessUsage usageOf(pid_t pid) {
    const fs::path proc = "/proc/" + std::to_string(pid);
    ProcessUsage usage;
    usage.fds = countEntries(proc / "fd");
    usage.threads = countEntries(proc / "task");
    std::ifstream status(proc / "status");
    for (std::string line; std::getline(status, line);) {
        if (line.starts_with("VmRSS:")) {
            usage.rssKiB = std::stoull(line.substr(6));
        }
    }
    return usage;
}

ProgressWatchdog::ProgressWatchdog(pid_t pid, const std::atomic<uint64_t>& progress,
                                   std::chrono::seconds stallAfter, std::function<void()> onStall)
    : pid_(pid), progress_(progress), onStall_(std::move(onStall)) {
    thread_ = std::thread([this, stallAfter] { run(stallAfter); });
}

ProgressWatchdog::~ProgressWatchdog() {
    {
        std::lock_guard lock(mutex_);
        done_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::string ProgressWatchdog::report() const {
    std::lock_guard lock(mutex_);
    return report_;
}

void ProgressWatchdog::run(std::chrono::seconds stallAfter) {
    uint64_t last = progress_;
    auto lastChange = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
        const uint64_t now = progress_;
        if (now != last) {
            last = now;
            lastChange = std::chrono::steady_clock::now();
            continue;
        }
        if (std::chrono::steady_clock::now() - lastChange < stallAfter) {
            continue;
        }
        lock.unlock();
        SubprocessOptions options;
        options.timeout = std::chrono::seconds(60);
        const auto stacks = runSubprocess(
            {"gdb", "-p", std::to_string(pid_), "-batch", "-nx", "-ex", "thread apply all bt"},
            options);
        lock.lock();
        report_ = "no progress for " + std::to_string(stallAfter.count()) + " s (counter " +
                  std::to_string(now) + "); stacks of " + std::to_string(pid_) + " (" +
                  stacks.describe() + "):\n" + stacks.out;
        stalled_ = true;
        lock.unlock();
        onStall_();
        return;
    }
}

ThrottlingProxy::ThrottlingProxy(uint16_t upstreamPort, uint64_t bytesPerSecond)
    : upstreamPort_(upstreamPort),
      bytesPerSecond_(bytesPerSecond),
      listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!listener_) {
        throw HarnessError("proxy socket: " + errnoText(errno));
    }
    const int on = 1;
    (void)::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    auto address = loopback(0);
    socklen_t length = sizeof address;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_.get(), 64) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw HarnessError("proxy listen on 127.0.0.1: " + errnoText(errno));
    }
    port_ = ntohs(address.sin_port);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        throw HarnessError("proxy pipe: " + errnoText(errno));
    }
    stopRead_ = UniqueFd(pipeFds[0]);
    stopWrite_ = UniqueFd(pipeFds[1]);
    acceptor_ = std::thread([this] { acceptLoop(); });
}

ThrottlingProxy::~ThrottlingProxy() {
    stopWrite_.reset();  // EOF on stopRead_: every poll below returns
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& thread : connections_) {
        thread.join();
    }
}

void ThrottlingProxy::acceptLoop() {
    while (true) {
        pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stopRead_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (fds[1].revents != 0) {
            return;
        }
        // cppcheck-suppress nullPointer ; accept4 takes null address buffers (POSIX)
        UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!client) {
            continue;
        }
        std::lock_guard lock(mutex_);
        connections_.emplace_back(
            [this, fd = std::make_shared<UniqueFd>(std::move(client))] { pump(std::move(*fd)); });
    }
}

void ThrottlingProxy::pump(UniqueFd client) {
    UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    // Small fixed buffers (autotuning off): loopback would otherwise let megabytes of the answer
    // sit in our receive buffer, out of reach of a fault that strikes the server.
    const int bufferBytes = 64 << 10;
    (void)::setsockopt(server.get(), SOL_SOCKET, SO_RCVBUF, &bufferBytes, sizeof bufferBytes);
    (void)::setsockopt(client.get(), SOL_SOCKET, SO_SNDBUF, &bufferBytes, sizeof bufferBytes);
    const auto address = loopback(upstreamPort_);
    if (!server ||
        ::connect(server.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        return;  // upstream down: the client sees the connection close, as with no proxy
    }
    // Small chunks paced by sleeping: the server's writes block on a full socket buffer, so when
    // it dies the client has not got the rest of its answer.
    constexpr size_t kChunk = 8192;
    const auto pause = std::chrono::microseconds(kChunk * 1000000 / bytesPerSecond_);
    char buffer[kChunk];
    while (true) {
        pollfd fds[3] = {
            {client.get(), POLLIN, 0}, {server.get(), POLLIN, 0}, {stopRead_.get(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (fds[2].revents != 0) {
            return;
        }
        if (fds[0].revents != 0) {
            const ssize_t n = ::recv(client.get(), buffer, sizeof buffer, 0);
            if (n <= 0 || !writeAll(server.get(), buffer, static_cast<size_t>(n))) {
                return;
            }
        }
        if (fds[1].revents != 0) {
            const ssize_t n = ::recv(server.get(), buffer, sizeof buffer, 0);
            if (n <= 0 || !writeAll(client.get(), buffer, static_cast<size_t>(n))) {
                return;
            }
            bytesDown_ += static_cast<uint64_t>(n);
            std::this_thread::sleep_for(pause);
        }
    }
}

std::vector<std::string> generatedPaths(size_t files, size_t directories) {
    std::vector<std::string> paths;
    paths.reserve(files);
    for (size_t i = 0; i < files; ++i) {
        paths.push_back("d" + std::to_string(i % directories) + "/f" + std::to_string(i) + ".bin");
    }
    return paths;
}

void buildGeneratedRepo(const fs::path& dir, size_t files, size_t bytesPerFile,
                        size_t directories) {
    fs::create_directories(dir);
    git(dir, {"init", "-q", "-b", "main"});
    std::mt19937_64 random(20261124);
    std::string bytes(bytesPerFile, '\0');
    for (const auto& path : generatedPaths(files, directories)) {
        for (size_t i = 0; i < bytes.size(); i += sizeof(uint64_t)) {
            const uint64_t word = random();
            bytes.replace(i, std::min(sizeof word, bytes.size() - i),
                          reinterpret_cast<const char*>(&word),
                          std::min(sizeof word, bytes.size() - i));
        }
        fs::create_directories((dir / path).parent_path());
        std::ofstream out(dir / path, std::ios::binary | std::ios::trunc);
        out << bytes;
        if (!out) {
            throw HarnessError("cannot write " + (dir / path).string());
        }
    }
    git(dir, {"add", "-A", "."});
    git(dir, {"commit", "-q", "-m", "generated: " + std::to_string(files) + " files"});
}

}  // namespace megafuse::test
