// ErrorMapping: the one place manager errors become D-Bus error names (the contract's
// com.gitmega.MegaFuse1.Error.* and org.freedesktop.DBus.Error.InvalidArgs).
#pragma once

#include <sdbus-c++/Error.h>

#include "manager/ManagerError.hpp"

namespace megafuse::dbus {

inline constexpr const char* kErrorPrefix = "com.gitmega.MegaFuse1.Error.";
inline constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";
// A caller other than the daemon's own user (DbusService checks every method call).
inline constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";

// "com.gitmega.MegaFuse1.Error.NotFound", ... or kInvalidArgs.
std::string dbusErrorName(manager::ManagerErrc code);

sdbus::Error toDbusError(const manager::ManagerError& error);

}  // namespace megafuse::dbus
