// ManagerError: the mount manager's one error type. Each code is one D-Bus error name; the D-Bus
// glue maps it (dbus/ErrorMapping.cpp), the service maps it to log lines — nowhere else.
#pragma once

#include <stdexcept>
#include <string>

namespace megafuse::manager {

enum class ManagerErrc {
    NotFound,        // no mount of that name / path
    AlreadyMounted,  // Mount on a mount that is mounted or mounting
    NotMounted,      // Unmount on a mount that is not mounted
    Busy,            // the mount is in use (unmount without force/lazy), or another operation on
                     // it is in flight
    InvalidArgs,     // a malformed request: bad name, relative mountpoint, unknown option, ...
    InvalidConfig,   // the configuration file does not load (message: file:line:column lines)
    MountFailed,     // the source, revision or mountpoint did not work out (reason in message)
    Timeout,         // an operation did not finish within its bound
    // Writable mounts (changes, diff, reset, commit, push, checkout):
    NotWritable,      // the mount is read-only, or not mounted (its change set lives with it)
    Conflict,         // checkout would overwrite local changes (the paths are in the message)
    NothingToCommit,  // commit of a mount with no changes
    PushRejected,     // the server refused the push (its words are in the message)
    Failed,           // the operation failed otherwise (git, I/O, no remote to push to...)
};

const char* toString(ManagerErrc code);

class ManagerError : public std::runtime_error {
public:
    ManagerError(ManagerErrc code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    [[nodiscard]] ManagerErrc code() const { return code_; }

private:
    ManagerErrc code_;
};

}  // namespace megafuse::manager
