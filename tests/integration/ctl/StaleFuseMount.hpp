// StaleFuseMount: a FUSE mount of type fuse.mega-fuse whose connection is already dead, made
// with mount(2) on a /dev/fuse fd that is closed at once — exactly what a killed mega-fused
// leaves behind (every access fails with ENOTCONN), without needing the daemon. Root only.
#pragma once

#include <filesystem>

namespace megafuse::test {

class StaleFuseMount {
public:
    // True when this process may mount FUSE directly (root and /dev/fuse present).
    static bool supported();

    // Creates mountPoint if needed and mounts the dead connection there; throws HarnessError.
    explicit StaleFuseMount(std::filesystem::path mountPoint);
    // Unmounts (the ladder of support/Mounts.hpp: -u, -uz, MNT_DETACH).
    ~StaleFuseMount();
    StaleFuseMount(const StaleFuseMount&) = delete;
    StaleFuseMount& operator=(const StaleFuseMount&) = delete;

    [[nodiscard]] const std::filesystem::path& mountPoint() const { return mountPoint_; }

private:
    std::filesystem::path mountPoint_;
};

}  // namespace megafuse::test
