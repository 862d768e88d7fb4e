// MountFixture: what every mount test starts from — a private temp dir, the sample repository,
// and a helper that mounts it with mega-fused. Tests fail (not skip) when the binary is missing.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "support/MegaFused.hpp"
#include "support/SampleRepo.hpp"
#include "support/Sources.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {

class MountFixture : public ::testing::Test {
protected:
    void SetUp() override;

    // A request for source at mountPoint() with the fixture's cache dir.
    [[nodiscard]] MountRequest request(const std::string& source,
                                       std::optional<std::string> revision = std::nullopt,
                                       std::optional<std::string> subPath = std::nullopt) const;
    // Starts mega-fused and waits for the mount (throws, failing the test, when it does not).
    std::unique_ptr<MegaFused> mount(const MountRequest& request);

    [[nodiscard]] std::filesystem::path mountPoint() const { return dir_ / "mnt"; }
    [[nodiscard]] std::filesystem::path cacheDir() const { return dir_ / "cache"; }
    // The one bare partial clone the daemon keeps for a remote source (<cache>/sources/*.git);
    // fails the test when there is not exactly one.
    [[nodiscard]] std::filesystem::path cacheClone() const;
    // Blob id of path at revision, from the origin repository.
    [[nodiscard]] std::string blobId(const std::string& revision, const std::string& path) const;
    // The bytes of path at revision, from the origin repository.
    [[nodiscard]] std::string gitBytes(const std::string& revision, const std::string& path) const;

    TempDir dir_;
    SampleRepo repo_;
    int mounts_ = 0;
};

// Reads a whole file; on failure returns nullopt and sets error to errno (from open or read).
std::optional<std::string> readFileOrErrno(const std::filesystem::path& path, int& error);

}  // namespace megafuse::test
