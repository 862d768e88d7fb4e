// FuseMount: libfuse session lifecycle. Stopping never relies on libfuse's signal handlers (they
// serve one session per process): the mount is unmounted, which ends the kernel connection, which
// ends every worker's read of /dev/fuse.
#include "fs/FuseMount.hpp"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "common/Subprocess.hpp"

namespace megafuse::fs {
namespace {

// The last line libfuse logged on this thread: a failed fuse_session_mount says why only there.
thread_local std::string lastLibfuseMessage;

void logFromLibfuse(fuse_log_level level, const char* format, va_list args) {
    char text[1024];
    (void)std::vsnprintf(text, sizeof text, format, args);
    std::string message(text);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    if (level <= FUSE_LOG_ERR) {
        spdlog::error("libfuse: {}", message);
    } else if (level <= FUSE_LOG_NOTICE) {
        spdlog::warn("libfuse: {}", message);
    } else if (level == FUSE_LOG_INFO) {
        spdlog::info("libfuse: {}", message);
    } else {
        spdlog::debug("libfuse: {}", message);
    }
    lastLibfuseMessage = std::move(message);
}

void routeLibfuseLogs() {
    static std::once_flag once;
    std::call_once(once, [] { fuse_set_log_func(logFromLibfuse); });
}

// Blocks every asynchronous signal for threads started while it lives (they inherit the mask),
// then restores the caller's mask.
class BlockSignalsForNewThreads {
public:
    BlockSignalsForNewThreads() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved_);
    }
    ~BlockSignalsForNewThreads() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
    BlockSignalsForNewThreads(const BlockSignalsForNewThreads&) = delete;
    BlockSignalsForNewThreads& operator=(const BlockSignalsForNewThreads&) = delete;

private:
    sigset_t saved_{};
};

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(const std::string& field) {
    auto isOctal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() && isOctal(field[i + 1]) &&
            isOctal(field[i + 2]) && isOctal(field[i + 3])) {
            out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                            (field[i + 3] - '0')));
            i += 3;
            continue;
        }
        out.push_back(field[i]);
    }
    return out;
}

// strerror is not thread-safe; the FUSE loop thread and the owner both report errors.
std::string errnoText(int error) {
    return std::generic_category().message(error);
}

// The device of the mount (of any type) exactly at mountpoint, from mountinfo; nullopt when
// nothing is mounted there.
std::optional<dev_t> deviceOfMountAt(const std::filesystem::path& mountpoint) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::optional<dev_t> found;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, majorMinor, root, point;
        fields >> id >> parent >> majorMinor >> root >> point;
        unsigned major = 0;
        unsigned minor = 0;
        if (unescapeMountinfo(point) == mountpoint.string() &&
            std::sscanf(majorMinor.c_str(), "%u:%u", &major, &minor) == 2) {
            found = makedev(major, minor);
        }
    }
    return found;
}

// The device of the FUSE mount at mountpoint, read from mountinfo rather than by stat(): a stat
// would be a request to the filesystem itself, which may not be serving yet.
dev_t deviceOfFuseMount(const std::filesystem::path& mountpoint) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    dev_t found = 0;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, majorMinor, root, point;
        fields >> id >> parent >> majorMinor >> root >> point;
        const auto separator = line.find(" - ");
        if (separator == std::string::npos || line.compare(separator + 3, 4, "fuse") != 0) {
            continue;
        }
        if (unescapeMountinfo(point) != mountpoint.string()) {
            continue;
        }
        unsigned major = 0;
        unsigned minor = 0;
        if (std::sscanf(majorMinor.c_str(), "%u:%u", &major, &minor) == 2) {
            found = makedev(major, minor);  // the last match is the mount on top
        }
    }
    return found;
}

// The name of the user we run as, for messages.
std::string userName() {
    std::vector<char> buffer(4096);
    passwd entry{};
    passwd* found = nullptr;
    if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
        return found->pw_name;
    }
    return "uid " + std::to_string(::geteuid());
}

// True when /etc/fuse.conf has a `user_allow_other` line (fusermount3's rule: the word alone on
// its line, blanks around it allowed, '#' starts a comment).
bool fuseConfAllowsOther() {
    std::ifstream in("/etc/fuse.conf");
    std::string line;
    while (std::getline(in, line)) {
        if (const auto end = line.find('#'); end != std::string::npos) {
            line.resize(end);
        }
        const auto first = line.find_first_not_of(" \t\r");
        const auto last = line.find_last_not_of(" \t\r");
        if (first != std::string::npos &&
            line.substr(first, last - first + 1) == "user_allow_other") {
            return true;
        }
    }
    return false;
}

// What the kernel and fusermount3 would refuse, said before any FUSE call: a mount on top of
// another one, and for an ordinary user the rules of the setuid fusermount3 (write access to the
// mount point, owning it when it is sticky, allow_other only when /etc/fuse.conf permits it).
std::optional<std::string> refusalBeforeMount(const MountOptions& options, const struct stat& st) {
    const std::filesystem::path& mountpoint = options.mountpoint;
    if (deviceOfMountAt(mountpoint)) {
        return std::string("it is already a mount point (unmount it first)");
    }
    if (::geteuid() == 0) {
        return std::nullopt;
    }
    if (::access(mountpoint.c_str(), W_OK) != 0) {
        return "user " + userName() +
               " has no write access to it (fusermount3 mounts only where the user may write)";
    }
    if ((st.st_mode & S_ISVTX) != 0 && st.st_uid != ::geteuid()) {
        return "it is a sticky folder not owned by user " + userName();
    }
    if (options.allowOther && !fuseConfAllowsOther()) {
        return "--allow-other (allow_other) needs a 'user_allow_other' line in /etc/fuse.conf "
               "when mega-fused runs as an ordinary user (" +
               userName() + ")";
    }
    return std::nullopt;
}

// How long fusermount3 may take to mount: local work, but a wedged helper must not hold the
// caller (a manager worker) forever.
constexpr std::chrono::seconds kFusermountTimeout{20};

// The /dev/fuse fd fusermount3 sent over socket (one SCM_RIGHTS message), or why there is none.
std::variant<UniqueFd, std::string> receiveFuseFd(int socket) {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    // The helper has exited: what it sent is buffered already, so never wait.
    const ssize_t got = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) {
        return "no /dev/fuse descriptor from fusermount3: " + errnoText(errno);
    }
    const cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (header == nullptr || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int))) {
        return std::string("fusermount3 sent no /dev/fuse descriptor");
    }
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
    return UniqueFd(fd);
}

// An ordinary user mounts through the setuid fusermount3: it opens /dev/fuse, mounts it and
// sends the fd back over the socket named in _FUSE_COMMFD. libfuse 3.14 runs it the same way but
// fork()s and calls setenv() in the child: in a multi-threaded daemon such a child can block on
// an allocator lock another thread held at the fork (seen under ASan, whose clang-14 allocator
// takes no locks around fork) and never reach exec, while libfuse waits for the fd unbounded.
// posix_spawn has no such window, and the helper runs under a time bound.
std::variant<UniqueFd, std::string> mountThroughFusermount(const std::string& where,
                                                           const std::string& mountOptions) {
    int pair[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return "socketpair: " + errnoText(errno);
    }
    const UniqueFd ours(pair[0]);
    const UniqueFd theirs(pair[1]);
    SubprocessOptions options;
    options.timeout = kFusermountTimeout;
    options.inheritedFds = {theirs.get()};
    options.extraEnvironment["_FUSE_COMMFD"] = std::to_string(theirs.get());
    const SubprocessResult result =
        runSubprocess({"fusermount3", "-o", mountOptions, "--", where}, options);
    if (!result.ok()) {
        return "fusermount3: " + result.describe();
    }
    return receiveFuseFd(ours.get());
}

}  // namespace

void FuseMount::SessionDeleter::operator()(fuse_session* session) const {
    fuse_session_destroy(session);
}

// statfs, not stat: a dead mount's root attributes may still be in the kernel's attribute cache
// (long timeouts), so stat can succeed on a stale mount; statfs always asks the daemon.
static bool isStaleMount(const std::filesystem::path& path) {
    struct statfs sfs {};
    return ::statfs(path.c_str(), &sfs) != 0 && errno == ENOTCONN;
}

void FuseMount::clearStaleMount(const std::filesystem::path& path) {
    if (!isStaleMount(path)) {
        return;
    }
    spdlog::warn("{}: stale FUSE mount (transport endpoint not connected); unmounting it",
                 path.string());
    SubprocessOptions quick;
    quick.timeout = std::chrono::seconds(10);
    SubprocessResult result =
        runSubprocess({"fusermount3", "-u", "-z", "--", path.string()}, quick);
    if (!result.ok() && ::geteuid() == 0) {
        ::umount2(path.c_str(), MNT_DETACH);
    }
    if (isStaleMount(path)) {
        throw MountError("cannot clear the stale mount at " + path.string() + ": " +
                         result.describe());
    }
}

FuseMount::FuseMount(Filesystem& filesystem, MountOptions options)
    : FuseMount(Filesystem::operations(), &filesystem, std::move(options)) {}

FuseMount::FuseMount(const fuse_lowlevel_ops& ops, void* userdata, MountOptions options)
    : options_(std::move(options)) {
    routeLibfuseLogs();
    const std::string where = options_.mountpoint.string();
    clearStaleMount(options_.mountpoint);
    struct stat st {};
    if (::stat(where.c_str(), &st) != 0) {
        throw MountError("cannot mount at " + where + ": " + errnoText(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        throw MountError("cannot mount at " + where + ": not a directory");
    }
    if (auto refusal = refusalBeforeMount(options_, st)) {
        throw MountError("cannot mount at " + where + ": " + *refusal);
    }

    std::string mountOptions = std::string(options_.readOnly ? "ro" : "rw") +
                               ",default_permissions,fsname=" + options_.fsName +
                               ",subtype=mega-fuse";
    if (options_.allowOther) {
        mountOptions += ",allow_other";
    }
    std::vector<std::string> argvStorage{"mega-fused", "-o", mountOptions};
    std::vector<char*> argv;
    argv.reserve(argvStorage.size());
    for (auto& arg : argvStorage) {
        argv.push_back(arg.data());
    }
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    session_.reset(fuse_session_new(&args, &ops, sizeof ops, userdata));
    fuse_opt_free_args(&args);
    if (!session_) {
        throw MountError("cannot mount at " + where + ": libfuse rejected options '" +
                         mountOptions + "': " + lastLibfuseMessage);
    }
    lastLibfuseMessage.clear();
    if (::geteuid() == 0) {
        if (fuse_session_mount(session_.get(), where.c_str()) != 0) {
            session_.reset();
            throw MountError("cannot mount at " + where + ": " +
                             (lastLibfuseMessage.empty() ? std::string("the mount was refused")
                                                         : lastLibfuseMessage));
        }
    } else {
        auto mounted = mountThroughFusermount(where, mountOptions);
        if (auto* problem = std::get_if<std::string>(&mounted)) {
            session_.reset();
            throw MountError("cannot mount at " + where + ": " + *problem);
        }
        // libfuse takes a mounted /dev/fuse as "/dev/fd/N" and closes it in
        // fuse_session_destroy; it then never unmounts by itself (unmountLazily does).
        auto& device = std::get<UniqueFd>(mounted);
        const std::string devicePath = "/dev/fd/" + std::to_string(device.get());
        if (fuse_session_mount(session_.get(), devicePath.c_str()) != 0) {
            unmountLazily();
            session_.reset();
            throw MountError("cannot mount at " + where + ": libfuse refused " + devicePath + ": " +
                             lastLibfuseMessage);
        }
        (void)device.release();
    }
    device_ = deviceOfFuseMount(options_.mountpoint);
    if (options_.autoUnmount) {
        try {
            watcher_.emplace(options_.mountpoint);
        } catch (const std::exception& e) {
            unmountLazily();
            throw MountError("cannot mount at " + where + ": " + e.what());
        }
    }

    int event = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event < 0) {
        const int error = errno;
        unmountLazily();
        throw MountError("cannot mount at " + where + ": eventfd: " + errnoText(error));
    }
    loopEnded_.reset(event);
    try {
        startLoop();
    } catch (const std::exception& e) {
        unmountLazily();
        throw MountError("cannot mount at " + where + ": starting the FUSE loop: " + e.what());
    }
}

void FuseMount::startLoop() {
    BlockSignalsForNewThreads blocked;
    loop_ = std::thread([this] {
        std::unique_ptr<fuse_loop_config, decltype(&fuse_loop_cfg_destroy)> config(
            fuse_loop_cfg_create(), &fuse_loop_cfg_destroy);
        int result = -ENOMEM;
        if (config) {
            fuse_loop_cfg_set_max_threads(config.get(), options_.maxThreads);
            fuse_loop_cfg_set_idle_threads(config.get(), options_.maxIdleThreads);
            fuse_loop_cfg_set_clone_fd(config.get(), 0);
            result = fuse_session_loop_mt(session_.get(), config.get());
        }
        if (result != 0) {
            spdlog::error("{}: FUSE loop ended with error: {}", options_.mountpoint.string(),
                          errnoText(result < 0 ? -result : result));
        }
        const uint64_t one = 1;
        (void)!::write(loopEnded_.get(), &one, sizeof one);
    });
}

bool FuseMount::waitLoopEnded(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        pollfd pfd{loopEnded_.get(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
        if (ready > 0) {
            return true;
        }
        if (ready == 0 || errno != EINTR) {
            return false;
        }
    }
}

bool FuseMount::loopEnded() const {
    return waitLoopEnded(std::chrono::milliseconds(0));
}

void FuseMount::unmountLazily() {
    const std::string where = options_.mountpoint.string();
    if (::geteuid() == 0) {
        if (::umount2(where.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
            spdlog::warn("{}: umount: {}", where, errnoText(errno));
        }
        return;
    }
    SubprocessOptions bounded;
    bounded.timeout = options_.unmountGrace;
    SubprocessResult result = runSubprocess({"fusermount3", "-u", "-z", "--", where}, bounded);
    if (!result.ok()) {
        spdlog::warn("{}: fusermount3 -u -z: {}", where, result.describe());
    }
}

unsigned FuseMount::connection() const {
    // fusectl names a connection by the kernel's dev_t, major << 20 | minor (major is 0 for the
    // anonymous devices FUSE mounts get, so this is the minor).
    return (major(device_) << 20U) | minor(device_);
}

bool FuseMount::abortConnection() {
    const std::string path = "/sys/fs/fuse/connections/" + std::to_string(connection()) + "/abort";
    UniqueFd abortFile(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!abortFile || ::write(abortFile.get(), "1", 1) != 1) {
        spdlog::error("{}: cannot abort the FUSE connection via {} ({}): is fusectl mounted?",
                      options_.mountpoint.string(), path, errnoText(errno));
        return false;
    }
    spdlog::warn("{}: files still open after {} ms; aborted the FUSE connection",
                 options_.mountpoint.string(), options_.unmountGrace.count());
    return true;
}

bool FuseMount::stop() {
    if (!loop_.joinable()) {
        return true;
    }
    if (!stopped_) {
        stopped_ = true;
        // After an unmount by the manager (fusermount3 -u), the loop may not have seen its
        // connection end yet; only a mount still there needs detaching.
        if (!loopEnded() && (device_ == 0 || deviceOfMountAt(options_.mountpoint) == device_)) {
            unmountLazily();
        }
    }
    if (!waitLoopEnded(options_.unmountGrace) && !abortConnection()) {
        return false;
    }
    // After an abort, workers still inside a store call finish it (bounded by the fetch timeout).
    loop_.join();
    fuse_session_unmount(session_.get());  // connection is gone: only closes /dev/fuse
    watcher_.reset();
    return true;
}

FuseMount::~FuseMount() {
    if (!stop() && loop_.joinable()) {
        spdlog::error("{}: waiting for open files to be closed before the FUSE loop can end",
                      options_.mountpoint.string());
        loop_.join();
        fuse_session_unmount(session_.get());
        watcher_.reset();
    }
}

}  // namespace megafuse::fs
