// CallArguments: the validation layer between D-Bus arguments and the manager — option
// dictionaries (a{sv}) and path lists of the contract's methods, each checked for known keys and
// types and turned into the manager's values. A bad argument is ManagerError(InvalidArgs) naming
// the key, which ErrorMapping sends as org.freedesktop.DBus.Error.InvalidArgs.
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "changes/ChangeSet.hpp"
#include "manager/ManagerError.hpp"
#include "manager/MountManager.hpp"

namespace megafuse::dbus {

using Options = std::map<std::string, sdbus::Variant>;

manager::ManagerError invalidArgs(const std::string& why);

// Manager.AddMount's spec: name, source, mountpoint (s, required), revision, path (s), writable,
// mount (b). The manager validates the values themselves (as config.yaml's).
manager::MountSpec parseMountSpec(const Options& spec);
// Unmount / RemoveMount: force, lazy (b).
manager::UnmountOptions parseUnmountOptions(const Options& options);
// Methods that define no option yet still refuse one, so adding one later is not a silent change.
void requireNoOptions(const Options& options);
// Paths of the change-set methods: relative to the mount root, never leaving it.
void requireRelativePaths(const std::vector<std::string>& paths);
// The same after reading each path back from the quoted form replies use for names that are not
// UTF-8 (BusText's unquotePath; docs/dbus-api.md, "Paths"), so every changed path can be named.
std::vector<std::string> pathsFromBus(std::vector<std::string> paths);
// Commit: author_name and author_email (s), both or neither; nullopt = the configured author.
std::optional<changes::Signature> parseCommitOptions(const Options& options);
// Checkout: force (b); returns it.
bool parseCheckoutOptions(const Options& options);

}  // namespace megafuse::dbus
