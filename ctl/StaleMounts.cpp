// StaleMounts: mountinfo parsing (proc(5): fields 5 = mount point, after " - ": type, source) and
// the probe. A thread stuck in a FUSE call is left behind on purpose: FUSE waits are killable,
// so it dies with the process when megactl exits.
#include "StaleMounts.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

namespace megafuse::ctl {
namespace {

std::string decodeMountInfoField(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string octal = field.substr(i + 1, 3);
            if (octal.size() == 3 && octal.find_first_not_of("01234567") == std::string::npos) {
                out += static_cast<char>(std::stoi(octal, nullptr, 8));
                i += 3;
                continue;
            }
        }
        out += field[i];
    }
    return out;
}

bool isMegaFuse(const std::string& fsType, const std::string& source) {
    if (fsType.starts_with("fuse.mega-fuse")) {
        return true;
    }
    return (fsType == "fuse" || fsType.starts_with("fuse.")) && source.starts_with("mega-fuse");
}

}  // namespace

std::vector<FuseMountEntry> megaFuseMounts(const std::string& mountInfoPath) {
    std::vector<FuseMountEntry> mounts;
    std::ifstream in(mountInfoPath);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string mountId, parentId, device, root, mountPoint;
        fields >> mountId >> parentId >> device >> root >> mountPoint;
        std::string field;
        while (fields >> field && field != "-") {
            // optional fields (shared:N, master:N) until the separator
        }
        std::string fsType, source;
        fields >> fsType >> source;
        if (!isMegaFuse(fsType, source)) {
            continue;
        }
        FuseMountEntry entry;
        entry.mountPoint = decodeMountInfoField(mountPoint);
        entry.fsType = fsType;
        entry.source = decodeMountInfoField(source);
        if (const auto colon = device.find(':'); colon != std::string::npos) {
            entry.connection = static_cast<unsigned>(std::stoul(device.substr(colon + 1)));
        }
        mounts.push_back(std::move(entry));
    }
    return mounts;
}

MountHealth probeMount(const std::string& mountPoint, std::chrono::milliseconds timeout) {
    auto result = std::make_shared<std::promise<int>>();
    auto answer = result->get_future();
    std::thread([result, mountPoint] {
        struct stat status {};
        result->set_value(::stat(mountPoint.c_str(), &status) == 0 ? 0 : errno);
    }).detach();
    if (answer.wait_for(timeout) != std::future_status::ready) {
        return MountHealth::NotResponding;
    }
    const int error = answer.get();
    if (error == 0) {
        return MountHealth::Live;
    }
    return error == ENOTCONN ? MountHealth::Stale : MountHealth::Other;
}

}  // namespace megafuse::ctl
