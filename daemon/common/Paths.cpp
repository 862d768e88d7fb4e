// Paths: XDG base directories with the spec's fallbacks.
#include "common/Paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <system_error>
#include <vector>

namespace megafuse {
namespace {

std::filesystem::path homeDir() {
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return home;
    }
    // getpwuid_r: getpwuid's static result would race with any other thread's passwd lookup.
    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr && found->pw_dir != nullptr) {
        return found->pw_dir;
    }
    return "/";
}

std::filesystem::path xdgDir(const char* variable, const char* fallbackUnderHome) {
    if (const char* value = std::getenv(variable); value != nullptr && value[0] == '/') {
        return std::filesystem::path(value) / "mega-fuse";
    }
    return homeDir() / fallbackUnderHome / "mega-fuse";
}

}  // namespace

std::filesystem::path defaultCacheDir() {
    return xdgDir("XDG_CACHE_HOME", ".cache");
}
std::filesystem::path defaultStateDir() {
    return xdgDir("XDG_STATE_HOME", ".local/state");
}
std::filesystem::path defaultConfigDir() {
    return xdgDir("XDG_CONFIG_HOME", ".config");
}

void ensurePrivateDirectory(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        throw std::system_error(ec, "create " + dir.string());
    }
    if (::chmod(dir.c_str(), 0700) != 0) {
        throw std::system_error(errno, std::generic_category(), "chmod 0700 " + dir.string());
    }
}

std::filesystem::path expandHome(const std::string& path) {
    if (path == "~") {
        return homeDir();
    }
    if (path.rfind("~/", 0) == 0) {
        return homeDir() / path.substr(2);
    }
    return path;
}

}  // namespace megafuse
