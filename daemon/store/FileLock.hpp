// FileLock: an exclusive flock on a lock file, held for one scope. Serializes clone and ref
// fetches of one partial clone between processes (two daemons, megactl) without ever hanging:
// acquisition gives up at a deadline.
#pragma once

#include <chrono>
#include <filesystem>

#include "common/UniqueFd.hpp"

namespace megafuse::store {

class FileLock {
public:
    // Creates lockFile (0600) if needed and waits for the lock until timeout has passed.
    // Throws StoreError(Timeout) when another holder keeps it longer, StoreError(Io) on errors.
    FileLock(const std::filesystem::path& lockFile, std::chrono::milliseconds timeout);
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock();  // unlocks by closing the fd

private:
    UniqueFd fd_;
};

}  // namespace megafuse::store
