// Doctor: `megactl doctor` — looks for what commonly breaks a mega-fuse setup (stale or hung
// mounts, no daemon, a config the daemon refuses, failed mounts) and says how to fix each.
#pragma once

#include <optional>
#include <string>

#include "Commands.hpp"

namespace megafuse::ctl {

struct DoctorOptions {
    std::optional<std::string> configPath;  // default: the daemon's, else the XDG default
};

// Never needs the daemon: an unreachable one is a finding, not a failure. Exit Ok when nothing
// was found, Failure otherwise.
ExitCode runDoctor(const CallTimeouts& timeouts, const OutputOptions& output,
                   const DoctorOptions& options);

}  // namespace megafuse::ctl
