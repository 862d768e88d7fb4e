// MountInfo: one mount as the daemon reports it (the Mount interface's properties), as plain
// values so commands and renderers never touch D-Bus types.
#pragma once

#include <sdbus-c++/Types.h>

#include <cstdint>
#include <map>
#include <string>

namespace megafuse::ctl {

struct MountInfo {
    std::string objectPath;
    std::string name;
    std::string source;
    std::string revision;
    std::string commitId;
    std::string subPath;
    std::string mountPoint;
    bool writable = false;
    bool automount = false;
    bool configured = false;
    std::string state;  // unmounted | mounting | mounted | unmounting | failed
    std::string lastError;
    uint64_t objectsFetched = 0;
    uint64_t bytesFetched = 0;
    uint64_t cacheHits = 0;
    uint64_t cacheMisses = 0;

    // From a GetAll / GetManagedObjects property map. A missing key keeps its default, so a
    // daemon older or newer than this megactl (the contract only grows) still lists.
    static MountInfo fromProperties(std::string objectPath,
                                    const std::map<std::string, sdbus::Variant>& properties);
};

}  // namespace megafuse::ctl
