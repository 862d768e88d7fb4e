// MountInfo: property map → values, tolerant of absent keys and of a type the contract did not
// promise (a daemon bug must not crash the CLI that is used to diagnose it).
#include "MountInfo.hpp"

#include <utility>

namespace megafuse::ctl {
namespace {

template <typename T>
void read(const std::map<std::string, sdbus::Variant>& properties, const char* key, T& out) {
    const auto it = properties.find(key);
    if (it != properties.end() && it->second.containsValueOfType<T>()) {
        out = it->second.get<T>();
    }
}

}  // namespace

MountInfo MountInfo::fromProperties(std::string objectPath,
                                    const std::map<std::string, sdbus::Variant>& properties) {
    MountInfo info;
    info.objectPath = std::move(objectPath);
    read(properties, "Name", info.name);
    read(properties, "Source", info.source);
    read(properties, "Revision", info.revision);
    read(properties, "CommitId", info.commitId);
    read(properties, "SubPath", info.subPath);
    read(properties, "MountPoint", info.mountPoint);
    read(properties, "Writable", info.writable);
    read(properties, "Automount", info.automount);
    read(properties, "Configured", info.configured);
    read(properties, "State", info.state);
    read(properties, "LastError", info.lastError);
    read(properties, "ObjectsFetched", info.objectsFetched);
    read(properties, "BytesFetched", info.bytesFetched);
    read(properties, "CacheHits", info.cacheHits);
    read(properties, "CacheMisses", info.cacheMisses);
    return info;
}

}  // namespace megafuse::ctl
