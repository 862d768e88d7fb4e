// ObjectPaths: the bus name and object paths of the contract, in one place for the daemon and
// its tests (clients take them from docs/dbus-api.md).
#pragma once

#include <string>

namespace megafuse::dbus {

inline constexpr const char* kBusName = "com.gitmega.MegaFuse1";
inline constexpr const char* kRootPath = "/com/gitmega/MegaFuse1";
inline constexpr const char* kMountsPrefix = "/com/gitmega/MegaFuse1/mounts";

// kMountsPrefix/<sd_bus_path_encode(name)>: "my-repo" → ".../mounts/my_2drepo".
std::string mountObjectPath(const std::string& name);

}  // namespace megafuse::dbus
