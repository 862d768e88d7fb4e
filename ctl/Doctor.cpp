// Doctor: each check appends findings; nothing here changes state (the config is validated with
// the daemon's own loader instead of Reload, which would apply it).
#include "Doctor.hpp"

#include <filesystem>
#include <iostream>
#include <map>
#include <vector>

#include "Json.hpp"
#include "StaleMounts.hpp"
#include "config/ConfigLoader.hpp"

namespace megafuse::ctl {
namespace {

constexpr auto kProbeTimeout = std::chrono::seconds(5);

struct Finding {
    std::string kind;     // stale_mount | hung_mount | daemon_unreachable | invalid_config |
                          // failed_mount (documented in docs/megactl.md)
    std::string subject;  // a mountpoint, a mount name, a file
    std::string message;
    std::string fix;
};

struct DaemonView {
    bool reachable = false;
    std::string unreachableReason;
    std::string configPath;
    std::vector<MountInfo> mounts;
};

DaemonView askDaemon(const CallTimeouts& timeouts) {
    DaemonView view;
    try {
        DaemonClient client(timeouts);
        view.configPath = client.configPath();
        view.mounts = client.listMounts();
        view.reachable = true;
    } catch (const CtlError& error) {
        view.unreachableReason = error.what();
    } catch (const sdbus::Error& error) {
        view.unreachableReason = fromDbusError(error).what();
    }
    return view;
}

std::string mountNameAt(const DaemonView& daemon, const std::string& mountPoint) {
    for (const auto& mount : daemon.mounts) {
        if (mount.mountPoint == mountPoint) {
            return mount.name;
        }
    }
    return {};
}

void checkKernelMounts(const DaemonView& daemon, std::vector<Finding>& findings) {
    for (const auto& entry : megaFuseMounts()) {
        const std::string name = mountNameAt(daemon, entry.mountPoint);
        const std::string remount =
            name.empty() ? std::string() : "; then `megactl mount " + name + "`";
        switch (probeMount(entry.mountPoint, kProbeTimeout)) {
            case MountHealth::Stale:
                findings.push_back(
                    {"stale_mount", entry.mountPoint,
                     "stale mount: nothing serves " + entry.mountPoint +
                         " any more (mega-fused exited without unmounting it)",
                     "run `fusermount3 -u " + entry.mountPoint + "` (add -z if it is busy)" +
                         remount + "; mega-fused also clears stale mountpoints when it starts"});
                break;
            case MountHealth::NotResponding:
                findings.push_back({"hung_mount", entry.mountPoint,
                                    entry.mountPoint + " does not answer within " +
                                        std::to_string(kProbeTimeout.count()) + " s",
                                    "run `megactl unmount --force " + entry.mountPoint +
                                        "`, or abort it with " +
                                        "`echo 1 > /sys/fs/fuse/connections/" +
                                        std::to_string(entry.connection) + "/abort`"});
                break;
            case MountHealth::Live:
            case MountHealth::Other:
                break;
        }
    }
}

void checkConfig(const DaemonView& daemon, const DoctorOptions& options,
                 std::vector<Finding>& findings) {
    std::filesystem::path path;
    if (options.configPath) {
        path = *options.configPath;
    } else if (!daemon.configPath.empty()) {
        path = daemon.configPath;
    } else {
        path = config::defaultConfigPath();
    }
    std::error_code ignored;
    if (!options.configPath && !std::filesystem::exists(path, ignored)) {
        return;  // no file is a valid setup: the daemon runs with no configured mounts
    }
    try {
        (void)config::loadConfigFile(path);
    } catch (const config::ConfigError& error) {
        findings.push_back({"invalid_config", path.string(),
                            "the configuration is invalid:\n" + std::string(error.what()),
                            daemon.reachable ? "fix the lines above, then run `megactl reload`"
                                             : "fix the lines above, then start mega-fused"});
    }
}

void checkDaemon(const DaemonView& daemon, std::vector<Finding>& findings) {
    if (!daemon.reachable) {
        findings.push_back({"daemon_unreachable", "mega-fused", daemon.unreachableReason,
                            "`systemctl --user start mega-fuse`; if it does not stay up, "
                            "`journalctl --user -u mega-fuse` says why"});
        return;
    }
    for (const auto& mount : daemon.mounts) {
        if (mount.state == "failed") {
            findings.push_back(
                {"failed_mount", mount.name,
                 "mount " + mount.name + " failed: " +
                     (mount.lastError.empty() ? "(no reason given)" : mount.lastError),
                 "fix the cause, then `megactl mount " + mount.name + "`"});
        }
    }
}

}  // namespace

ExitCode runDoctor(const CallTimeouts& timeouts, const OutputOptions& output,
                   const DoctorOptions& options) {
    const DaemonView daemon = askDaemon(timeouts);
    std::vector<Finding> findings;
    checkKernelMounts(daemon, findings);
    checkDaemon(daemon, findings);
    checkConfig(daemon, options, findings);

    if (output.json) {
        std::vector<JsonObject> problems;
        problems.reserve(findings.size());
        for (const auto& finding : findings) {
            problems.push_back(JsonObject()
                                   .add("kind", finding.kind)
                                   .add("subject", finding.subject)
                                   .add("message", finding.message)
                                   .add("fix", finding.fix));
        }
        std::cout << JsonObject()
                         .add("healthy", findings.empty())
                         .add("daemon_reachable", daemon.reachable)
                         .add("problems", problems)
                         .str()
                  << '\n';
    } else if (findings.empty()) {
        std::cout << "No problems found (" << daemon.mounts.size() << " mounts).\n";
    } else {
        for (const auto& finding : findings) {
            std::cout << "problem: " << finding.message << "\n    fix: " << finding.fix << '\n';
        }
    }
    return findings.empty() ? ExitCode::Ok : ExitCode::Failure;
}

}  // namespace megafuse::ctl
