// TempDir: mkdtemp, then on destruction the unmount ladder for anything left below, then removal.
#include "support/TempDir.hpp"

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

void grantOwnerWriteBelow(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::permissions(root, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto it = fs::recursive_directory_iterator(
             root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code entryError;  // one entry failing must not end the walk
        if (it->is_directory(entryError) && !it->is_symlink(entryError)) {
            fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, entryError);
        }
    }
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
    const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): read-only use
    std::filesystem::path base = (tmp != nullptr && tmp[0] == '/') ? tmp : "/tmp";
    std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
        throw HarnessError("mkdtemp " + pattern + " failed");
    }
    // Canonical, so it compares equal to the mount points the kernel reports.
    path_ = std::filesystem::canonical(buffer.data());
}

TempDir::~TempDir() {
    for (const auto& mount : mountsBelow(path_)) {
        std::cerr << "TempDir: unmounting leftover " << mount.fsType << " mount at "
                  << mount.mountPoint << '\n';
        if (!unmountFuse(mount.mountPoint)) {
            // Removing the tree would recurse into a live mount: leave it for a human.
            std::cerr << "TempDir: could not unmount " << mount.mountPoint << "; keeping " << path_
                      << '\n';
            return;
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) {
        // As an ordinary user, a folder a test made read-only (0500) cannot be emptied: give
        // folders back their owner's write and search bits, then try again (root never needs it).
        grantOwnerWriteBelow(path_);
        ec.clear();
        std::filesystem::remove_all(path_, ec);
    }
    if (ec) {
        std::cerr << "TempDir: cannot remove " << path_ << ": " << ec.message() << '\n';
    }
}

std::filesystem::path TempDir::makeDir(const std::filesystem::path& relative) {
    auto dir = path_ / relative;
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace megafuse::test
