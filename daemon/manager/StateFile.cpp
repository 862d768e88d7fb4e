// StateFile: YAML list of mounted mounts (see the header).
#include "manager/StateFile.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <system_error>

#include "common/Paths.hpp"
#include "common/UniqueFd.hpp"

namespace megafuse::manager {

StateFile::Entries StateFile::load() const {
    Entries entries;
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) {
        return entries;
    }
    try {
        YAML::Node root = YAML::LoadFile(path_.string());
        for (const auto& item : root["mounted"]) {
            entries[item["name"].as<std::string>()] = item["mountpoint"].as<std::string>();
        }
    } catch (const std::exception& e) {
        spdlog::warn("ignoring unreadable mount state {}: {}", path_.string(), e.what());
        entries.clear();
    }
    return entries;
}

void StateFile::save(const Entries& entries) const {
    YAML::Emitter out;
    out << YAML::Comment(
        "mega-fused: mounts to bring back after a restart (written by the daemon)");
    out << YAML::BeginMap << YAML::Key << "mounted" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, mountpoint] : entries) {
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name << YAML::Key
            << "mountpoint" << YAML::Value << mountpoint.string() << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
    std::string text = std::string(out.c_str()) + "\n";

    try {
        ensurePrivateDirectory(path_.parent_path());
        std::filesystem::path temp = path_;
        temp += ".tmp";
        UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) {
            throw std::system_error(errno, std::generic_category(), temp.string());
        }
        size_t written = 0;
        while (written < text.size()) {
            ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                throw std::system_error(errno, std::generic_category(), temp.string());
            }
            written += static_cast<size_t>(n);
        }
        if (::fsync(fd.get()) != 0) {
            throw std::system_error(errno, std::generic_category(), temp.string());
        }
        std::filesystem::rename(temp, path_);
    } catch (const std::exception& e) {
        spdlog::error("cannot save mount state {}: {}", path_.string(), e.what());
    }
}

}  // namespace megafuse::manager
