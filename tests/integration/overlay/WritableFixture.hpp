// WritableFixture: what every writable-mount test starts from — a private temp dir, a small base
// repository (files, an executable, a symlink, nested folders, one folder of many files), a
// native checkout of it to compare with, and helpers to mount it writable over one overlay.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/Subprocess.hpp"
#include "support/MegaFused.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {

class WritableFixture : public ::testing::Test {
protected:
    // Files in the base's many/ folder (the rename-a-big-folder test).
    static constexpr int kManyFiles = 300;

    void SetUp() override;

    [[nodiscard]] MountRequest writableRequest() const;
    // Starts `mega-fused mount --writable` over overlayDir() (throws when it does not mount).
    std::unique_ptr<MegaFused> mount();
    // A fresh native checkout of the base commit (git archive) at dir_/name.
    std::filesystem::path nativeCopy(const std::string& name);

    [[nodiscard]] std::filesystem::path mountPoint() const { return dir_ / "mnt"; }
    [[nodiscard]] std::filesystem::path overlayDir() const { return dir_ / "overlay"; }
    [[nodiscard]] std::filesystem::path origin() const { return dir_ / "origin"; }

    TempDir dir_{"megafuse-overlay"};
    std::string baseCommit_;
    int mounts_ = 0;
};

// Runs a shell command line (sh -c) in cwd; the result whatever it is.
SubprocessResult shell(const std::string& command, const std::filesystem::path& cwd,
                       std::chrono::seconds timeout = std::chrono::seconds(60));

// errno of a failed call, 0 for success: fn returns the syscall's result (-1 on failure).
int errnoOf(const std::function<int()>& fn);

// Writes bytes to path (created or truncated); throws HarnessError on failure.
void writeFile(const std::filesystem::path& path, const std::string& bytes);
std::string readFile(const std::filesystem::path& path);

// Polls the mount table (never stat: the mount may hang) until path is no FUSE mount.
bool waitUntilUnmounted(const std::filesystem::path& path, std::chrono::milliseconds timeout);

}  // namespace megafuse::test
