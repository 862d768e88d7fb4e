// FileLock: non-blocking flock polled until a deadline (flock itself has no timeout).
#include "store/FileLock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "store/StoreError.hpp"

namespace megafuse::store {

FileLock::FileLock(const std::filesystem::path& lockFile, std::chrono::milliseconds timeout)
    : fd_(::open(lockFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (!fd_) {
        throw StoreError(StoreErrc::Io, "open lock file " + lockFile.string() + ": " +
                                            std::generic_category().message(errno));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(5);
    while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno != EWOULDBLOCK) {
            throw StoreError(StoreErrc::Io, "lock " + lockFile.string() + ": " +
                                                std::generic_category().message(errno));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw StoreError(StoreErrc::Timeout, "another process holds " + lockFile.string() +
                                                     " (clone or fetch in progress)");
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
}

FileLock::~FileLock() = default;

}  // namespace megafuse::store
