// MountFixture: shared set-up for the mount suites.
#include "MountFixture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/UniqueFd.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {

void MountFixture::SetUp() {
    if (!MegaFused::available()) {
        GTEST_FAIL() << "mega-fused is not built (MEGAFUSED_BIN=\"" << MegaFused::binary().string()
                     << "\")";
    }
    repo_ = SampleRepo::build(dir_ / "origin");
}

MountRequest MountFixture::request(const std::string& source, std::optional<std::string> revision,
                                   std::optional<std::string> subPath) const {
    MountRequest request;
    request.source = source;
    request.mountPoint = mountPoint();
    request.cacheDir = cacheDir();
    request.revision = std::move(revision);
    request.subPath = std::move(subPath);
    return request;
}

std::unique_ptr<MegaFused> MountFixture::mount(const MountRequest& request) {
    ++mounts_;
    return std::make_unique<MegaFused>(request,
                                       dir_ / ("mega-fused-" + std::to_string(mounts_) + ".log"));
}

std::filesystem::path MountFixture::cacheClone() const {
    std::vector<std::filesystem::path> clones;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(cacheDir() / "sources", ec)) {
        if (entry.path().extension() == ".git") {
            clones.push_back(entry.path());
        }
    }
    if (clones.size() != 1) {
        std::string found;
        for (const auto& clone : clones) {
            found += " " + clone.string();
        }
        throw HarnessError("expected exactly one partial clone in " +
                           (cacheDir() / "sources").string() + ", found " +
                           std::to_string(clones.size()) + ":" + found);
    }
    return clones.front();
}

std::string MountFixture::blobId(const std::string& revision, const std::string& path) const {
    return gitLine(repo_.dir, {"rev-parse", revision + ":" + path});
}

std::string MountFixture::gitBytes(const std::string& revision, const std::string& path) const {
    return git(repo_.dir, {"cat-file", "blob", revision + ":" + path});
}

std::optional<std::string> readFileOrErrno(const std::filesystem::path& path, int& error) {
    error = 0;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        error = errno;
        return std::nullopt;
    }
    std::string bytes;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error = errno;
            return std::nullopt;
        }
        if (n == 0) {
            return bytes;
        }
        bytes.append(buffer, static_cast<size_t>(n));
    }
}

}  // namespace megafuse::test
