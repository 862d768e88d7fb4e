// CtlError: megactl's one error type — a named exit code plus the one line the user reads. Every
// failure (D-Bus error, bad argument, unreachable daemon) becomes one of these exactly once.
#pragma once

#include <sdbus-c++/Error.h>

#include <stdexcept>
#include <string>

namespace megafuse::ctl {

// The documented exit codes (docs/megactl.md, --help); scripts depend on them, never renumber.
enum class ExitCode : int {
    Ok = 0,
    Failure = 1,            // anything else: mount failed, timeout, unexpected D-Bus error
    Usage = 2,              // bad command line, InvalidArgs, InvalidConfig
    NotFound = 3,           // no such mount
    DaemonUnreachable = 4,  // no session bus, or mega-fused not on it
    StateConflict = 5,      // busy, already mounted, not mounted, not writable
    Conflict = 6,           // checkout would overwrite local changes (paths listed)
    PushRejected = 7,       // the server refused the push (its message shown)
};

class CtlError : public std::runtime_error {
public:
    CtlError(ExitCode code, const std::string& message)
        : std::runtime_error(message), code_(code) {}

    [[nodiscard]] ExitCode code() const { return code_; }

private:
    ExitCode code_;
};

// The sentence a user gets instead of a D-Bus stack when nobody owns the bus name.
inline constexpr const char* kDaemonNotRunning =
    "mega-fused is not running on the session bus: start it with "
    "`systemctl --user start mega-fuse`";

// The single mapping from a D-Bus error (by name) to an exit code and a message line.
CtlError fromDbusError(const sdbus::Error& error);

}  // namespace megafuse::ctl
