// StateFile: which mounts were mounted, kept in state_dir so a restart (or a crash and restart)
// brings them back and finds their stale mountpoints. Written atomically (temp file + rename).
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace megafuse::manager {

class StateFile {
public:
    // name → mountpoint of every mount that should be mounted.
    using Entries = std::map<std::string, std::filesystem::path>;

    explicit StateFile(std::filesystem::path path) : path_(std::move(path)) {}

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

    // Missing or unreadable file: empty (logged), never an error — losing it costs only a
    // manual Mount after restart.
    [[nodiscard]] Entries load() const;
    // Replaces the file; failures are logged, not thrown (the mount itself succeeded).
    void save(const Entries& entries) const;

private:
    std::filesystem::path path_;
};

}  // namespace megafuse::manager
