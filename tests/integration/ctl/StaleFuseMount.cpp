// StaleFuseMount: closing the only /dev/fuse fd before the INIT handshake aborts the connection
// (fuse_dev_release → fuse_abort_conn), so the kernel answers ENOTCONN for the mount's life.
#include "StaleFuseMount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {

bool StaleFuseMount::supported() {
    return ::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0;
}

StaleFuseMount::StaleFuseMount(std::filesystem::path mountPoint)
    : mountPoint_(std::move(mountPoint)) {
    std::filesystem::create_directories(mountPoint_);
    UniqueFd fuse(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!fuse) {
        throw HarnessError(std::string("open /dev/fuse: ") + std::strerror(errno));
    }
    const std::string options =
        "fd=" + std::to_string(fuse.get()) + ",rootmode=40000,user_id=0,group_id=0";
    if (::mount("mega-fuse:stale", mountPoint_.c_str(), "fuse.mega-fuse", MS_NOSUID | MS_NODEV,
                options.c_str()) != 0) {
        throw HarnessError("mount fuse.mega-fuse at " + mountPoint_.string() + ": " +
                           std::strerror(errno));
    }
    // `fuse` closes here: the connection dies, the mount stays.
}

StaleFuseMount::~StaleFuseMount() {
    unmountFuse(mountPoint_);
}

}  // namespace megafuse::test
