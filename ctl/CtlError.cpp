// CtlError: the D-Bus error name → exit code table. Names come from the contract
// (dbus/com.gitmega.MegaFuse1.xml) and from the bus itself for an absent daemon or a timeout.
#include "CtlError.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace megafuse::ctl {
namespace {

constexpr std::string_view kOurErrors = "com.gitmega.MegaFuse1.Error.";

struct NameAndCode {
    std::string_view name;
    ExitCode code;
};

constexpr std::array kTable{
    NameAndCode{"com.gitmega.MegaFuse1.Error.NotFound", ExitCode::NotFound},
    NameAndCode{"com.gitmega.MegaFuse1.Error.AlreadyMounted", ExitCode::StateConflict},
    NameAndCode{"com.gitmega.MegaFuse1.Error.NotMounted", ExitCode::StateConflict},
    NameAndCode{"com.gitmega.MegaFuse1.Error.Busy", ExitCode::StateConflict},
    NameAndCode{"com.gitmega.MegaFuse1.Error.InvalidConfig", ExitCode::Usage},
    NameAndCode{"com.gitmega.MegaFuse1.Error.MountFailed", ExitCode::Failure},
    NameAndCode{"com.gitmega.MegaFuse1.Error.Timeout", ExitCode::Failure},
    NameAndCode{"com.gitmega.MegaFuse1.Error.NotWritable", ExitCode::StateConflict},
    NameAndCode{"com.gitmega.MegaFuse1.Error.Conflict", ExitCode::Conflict},
    NameAndCode{"com.gitmega.MegaFuse1.Error.NothingToCommit", ExitCode::Failure},
    NameAndCode{"com.gitmega.MegaFuse1.Error.PushRejected", ExitCode::PushRejected},
    NameAndCode{"com.gitmega.MegaFuse1.Error.Failed", ExitCode::Failure},
    NameAndCode{"org.freedesktop.DBus.Error.InvalidArgs", ExitCode::Usage},
    // A mount object that vanished between ResolveMount and the call (RemoveMount, Reload).
    NameAndCode{"org.freedesktop.DBus.Error.UnknownObject", ExitCode::NotFound},
};

bool isDaemonAbsent(std::string_view name) {
    return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
           name == "org.freedesktop.DBus.Error.NameHasNoOwner";
}

bool isLocalTimeout(std::string_view name) {
    // sd-bus reports its own call deadline as ETIMEDOUT; the bus daemon as NoReply.
    return name == "org.freedesktop.DBus.Error.Timeout" ||
           name == "org.freedesktop.DBus.Error.NoReply" || name == "System.Error.ETIMEDOUT";
}

}  // namespace

CtlError fromDbusError(const sdbus::Error& error) {
    const std::string& name = error.getName();
    if (isDaemonAbsent(name)) {
        return {ExitCode::DaemonUnreachable, kDaemonNotRunning};
    }
    if (isLocalTimeout(name)) {
        return {ExitCode::Failure,
                "mega-fused did not answer in time (raise it with --timeout SECONDS; the "
                "operation may still complete in the daemon)"};
    }
    // Our own errors carry a message written for users; others get their name for context.
    std::string message = error.getMessage();
    if (message.empty()) {
        message = name;
    } else if (!std::string_view(name).starts_with(kOurErrors) &&
               name != "org.freedesktop.DBus.Error.InvalidArgs") {
        message += " (" + name + ")";
    }
    for (const auto& entry : kTable) {
        if (entry.name == name) {
            return {entry.code, message};
        }
    }
    return {ExitCode::Failure, message};
}

}  // namespace megafuse::ctl
