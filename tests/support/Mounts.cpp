// Mounts: /proc/self/mountinfo parsing (man 5 proc) and the unmount ladder.
#include "support/Mounts.hpp"

#include <sys/mount.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/Subprocess.hpp"

namespace megafuse::test {
namespace {

// mountinfo escapes ' ', '\t', '\n' and '\\' as three octal digits.
std::string decodeOctal(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string digits = field.substr(i + 1, 3);
            if (digits.size() == 3 && std::all_of(digits.begin(), digits.end(),
                                                  [](char c) { return c >= '0' && c <= '7'; })) {
                out.push_back(static_cast<char>(std::stoi(digits, nullptr, 8)));
                i += 3;
                continue;
            }
        }
        out.push_back(field[i]);
    }
    return out;
}

// Resolves symlinks in the parent only: a stat of the mount point itself would be a FUSE request,
// which blocks forever on a hung daemon — and these helpers are what frees one.
std::filesystem::path canonicalOrSelf(const std::filesystem::path& path) {
    auto normal = std::filesystem::absolute(path).lexically_normal();
    if (!normal.has_relative_path()) {
        return normal;  // "/"
    }
    const auto leaf = normal.filename().empty() ? normal.parent_path() : normal;
    std::error_code ec;
    auto parent = std::filesystem::weakly_canonical(leaf.parent_path(), ec);
    return ec ? leaf : parent / leaf.filename();
}

bool isAtOrBelow(const std::filesystem::path& candidate, const std::filesystem::path& dir) {
    const std::string c = candidate.string();
    const std::string d = dir.string();
    return c == d || (c.starts_with(d) && (d.ends_with('/') || c[d.size()] == '/'));
}

}  // namespace

std::vector<MountEntry> readMountTable() {
    std::vector<MountEntry> mounts;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id;
        std::string parent;
        std::string device;
        std::string root;
        std::string mountPoint;
        fields >> id >> parent >> device >> root >> mountPoint;
        std::string field;
        while (fields >> field && field != "-") {
        }
        MountEntry entry;
        fields >> entry.fsType >> entry.source;
        entry.mountPoint = decodeOctal(mountPoint);
        entry.mountId = static_cast<unsigned>(std::stoul(id));
        entry.line = line;
        if (auto colon = device.find(':'); colon != std::string::npos) {
            entry.deviceMajor = static_cast<unsigned>(std::stoul(device.substr(0, colon)));
            entry.deviceMinor = static_cast<unsigned>(std::stoul(device.substr(colon + 1)));
        }
        mounts.push_back(std::move(entry));
    }
    return mounts;
}

std::optional<MountEntry> findMount(const std::filesystem::path& path) {
    const auto wanted = canonicalOrSelf(path);
    std::optional<MountEntry> found;
    for (auto& entry : readMountTable()) {
        if (entry.mountPoint == wanted) {
            found = std::move(entry);  // later entries are stacked on top of earlier ones
        }
    }
    return found;
}

bool isFuseMount(const std::filesystem::path& path) {
    auto entry = findMount(path);
    return entry && entry->isFuse();
}

std::vector<MountEntry> mountsBelow(const std::filesystem::path& dir) {
    const auto root = canonicalOrSelf(dir);
    std::vector<MountEntry> below;
    for (auto& entry : readMountTable()) {
        if (isAtOrBelow(entry.mountPoint, root)) {
            below.push_back(std::move(entry));
        }
    }
    // Later mounts sit on top of (or inside) earlier ones: undo them first.
    std::reverse(below.begin(), below.end());
    return below;
}

bool unmountFuse(const std::filesystem::path& path) {
    const auto target = canonicalOrSelf(path);
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(20);
    try {
        if (!findMount(target)) {
            return true;
        }
        runSubprocess({"fusermount3", "-u", "--", target.string()}, options);
        if (!findMount(target)) {
            return true;
        }
        runSubprocess({"fusermount3", "-uz", "--", target.string()}, options);
        if (!findMount(target)) {
            return true;
        }
    } catch (const std::exception&) {
        // fusermount3 could not be started: fall through to the syscall.
    }
    ::umount2(target.c_str(), MNT_DETACH);
    return !findMount(target).has_value();
}

bool abortFuseConnection(const MountEntry& mount) {
    const auto abortFile = std::filesystem::path("/sys/fs/fuse/connections") /
                           std::to_string(mount.deviceMinor) / "abort";
    std::ofstream out(abortFile);
    if (!out) {
        return false;
    }
    out << "1\n";
    return static_cast<bool>(out.flush());
}

}  // namespace megafuse::test
