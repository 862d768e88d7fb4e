// Mountpoints: unmount ladder, stale-mount detection and fusectl abort (see the header).
#include "manager/Mountpoints.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/Subprocess.hpp"
#include "common/UniqueFd.hpp"

namespace megafuse::manager {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFusectlDir = "/sys/fs/fuse/connections";
constexpr long kFusectlMagic = 0x65735543;  // FUSE_CTL_SUPER_MAGIC
// fusermount3 is local work; a bound keeps a wedged helper from holding a worker forever.
constexpr std::chrono::seconds kHelperTimeout{20};

std::string errnoText(int error) {
    return std::generic_category().message(error);
}

bool isRoot() {
    return ::geteuid() == 0;
}

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string decodeMountinfoPath(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size()) {
            int value = 0;
            bool octal = true;
            for (size_t k = 1; k <= 3; ++k) {
                char c = text[i + k];
                if (c < '0' || c > '7') {
                    octal = false;
                    break;
                }
                value = value * 8 + (c - '0');
            }
            if (octal) {
                out.push_back(static_cast<char>(value));
                i += 3;
                continue;
            }
        }
        out.push_back(text[i]);
    }
    return out;
}

UnmountResult fromFusermount(const SubprocessResult& result) {
    if (result.ok()) {
        return {UnmountOutcome::Unmounted, ""};
    }
    const std::string& err = result.err;
    if (err.find("busy") != std::string::npos) {
        return {UnmountOutcome::Busy, err};
    }
    if (err.find("not mounted") != std::string::npos ||
        err.find("not found in /etc/mtab") != std::string::npos) {
        return {UnmountOutcome::NotMounted, err};
    }
    return {UnmountOutcome::Failed, result.describe()};
}

UnmountResult fromUmount2(int rc, int error) {
    if (rc == 0) {
        return {UnmountOutcome::Unmounted, ""};
    }
    if (error == EBUSY) {
        return {UnmountOutcome::Busy, errnoText(error)};
    }
    if (error == EINVAL || error == ENOENT) {
        return {UnmountOutcome::NotMounted, errnoText(error)};
    }
    return {UnmountOutcome::Failed, errnoText(error)};
}

}  // namespace

bool isStaleMountpoint(const fs::path& path) {
    // statfs, not stat: FUSE answers stat of the root from its attribute cache (long TTLs) even
    // after the connection died, but always sends statfs to the daemon.
    struct statfs sfs {};
    if (::statfs(path.c_str(), &sfs) == 0) {
        return false;
    }
    return errno == ENOTCONN || errno == ECONNABORTED;
}

bool isMountPoint(const fs::path& path) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    const std::string wanted = path.lexically_normal().string();
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id;
        std::string parent;
        std::string dev;
        std::string root;
        std::string mountPoint;
        if (fields >> id >> parent >> dev >> root >> mountPoint &&
            decodeMountinfoPath(mountPoint) == wanted) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> mountpointProblem(const fs::path& path) {
    if (!path.is_absolute()) {
        return "mountpoint '" + path.string() + "' is not an absolute path";
    }
    if (isStaleMountpoint(path)) {
        return std::nullopt;
    }
    // lstat: a symlink is refused, not followed. The kernel would mount on its target while
    // every later check and the unmount (UMOUNT_NOFOLLOW) looked at the link, and the link could
    // be pointed elsewhere between this check and the mount.
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return "mountpoint '" + path.string() + "': " + errnoText(errno);
    }
    if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        const fs::path target = fs::canonical(path, ec);
        return "mountpoint '" + path.string() + "' is a symbolic link" +
               (ec ? std::string() : "; give the folder it points to ('" + target.string() + "')");
    }
    if (!S_ISDIR(st.st_mode)) {
        return "mountpoint '" + path.string() + "' is not a directory";
    }
    if (!isRoot() && st.st_uid != ::geteuid()) {
        return "mountpoint '" + path.string() + "' is owned by uid " + std::to_string(st.st_uid) +
               ", not by this user";
    }
    if (isMountPoint(path)) {
        return "mountpoint '" + path.string() + "' is already a mount point";
    }
    // fusermount3's rule for an ordinary user, said before it is asked.
    if (!isRoot() && ::access(path.c_str(), W_OK) != 0) {
        return "mountpoint '" + path.string() +
               "' is not writable by this user (fusermount3 mounts only where the user may write)";
    }
    return std::nullopt;
}

std::optional<std::string> clearStaleMountpoint(const fs::path& path) {
    UnmountResult result = unmountLazy(path);
    if (result.outcome == UnmountOutcome::Unmounted ||
        result.outcome == UnmountOutcome::NotMounted) {
        return std::nullopt;
    }
    return result.detail;
}

UnmountResult unmountNormal(const fs::path& path) {
    if (isRoot()) {
        int rc = ::umount2(path.c_str(), UMOUNT_NOFOLLOW);
        return fromUmount2(rc, errno);
    }
    SubprocessOptions options;
    options.timeout = kHelperTimeout;
    return fromFusermount(runSubprocess({"fusermount3", "-u", "--", path.string()}, options));
}

UnmountResult unmountLazy(const fs::path& path) {
    if (isRoot()) {
        int rc = ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
        return fromUmount2(rc, errno);
    }
    SubprocessOptions options;
    options.timeout = kHelperTimeout;
    return fromFusermount(runSubprocess({"fusermount3", "-u", "-z", "--", path.string()}, options));
}

std::optional<unsigned long> fuseConnectionOf(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    // The kernel's dev_t layout (major << 20 | minor), which fusectl uses for folder names.
    return (static_cast<unsigned long>(major(st.st_dev)) << 20U) | minor(st.st_dev);
}

std::optional<std::string> abortFuseConnection(unsigned long connection) {
    struct statfs sfs {};
    bool mounted = ::statfs(kFusectlDir, &sfs) == 0 && sfs.f_type == kFusectlMagic;
    if (!mounted && isRoot()) {
        if (::mount("fusectl", kFusectlDir, "fusectl", 0, nullptr) != 0 && errno != EBUSY) {
            return std::string("cannot mount fusectl at ") + kFusectlDir + ": " + errnoText(errno);
        }
        mounted = true;
    }
    if (!mounted) {
        return std::string("fusectl is not mounted at ") + kFusectlDir;
    }
    fs::path abortFile = fs::path(kFusectlDir) / std::to_string(connection) / "abort";
    UniqueFd fd(::open(abortFile.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        return abortFile.string() + ": " + errnoText(errno);
    }
    if (::write(fd.get(), "1", 1) != 1) {
        return abortFile.string() + ": " + errnoText(errno);
    }
    return std::nullopt;
}

}  // namespace megafuse::manager
