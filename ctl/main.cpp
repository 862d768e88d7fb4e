// megactl: the command line over mega-fused's D-Bus API. Parses arguments, runs one command, and
// is the one place where any failure becomes an exit code and a single "megactl: ..." line.
#include <sdbus-c++/Error.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "ChangeCommands.hpp"
#include "Commands.hpp"
#include "CtlError.hpp"
#include "DaemonClient.hpp"
#include "Doctor.hpp"
#include "ProgressBar.hpp"

namespace megafuse::ctl {
namespace {

constexpr const char* kExitCodes = R"(Exit codes:
  0  success
  1  failure (mount failed, timeout, problems found by doctor, unexpected error)
  2  usage error or invalid argument / invalid configuration
  3  no such mount
  4  mega-fused unreachable (not running, or no session bus)
  5  state conflict (busy, already mounted, not mounted, not writable)
  6  checkout conflict: local changes on paths the new revision changes (listed)
  7  push rejected by the server (its message shown)

--json prints one JSON document per command on stdout (keys: docs/megactl.md).)";

int report(const CtlError& error) {
    std::cerr << "megactl: " << error.what() << '\n';
    return static_cast<int>(error.code());
}

struct Arguments {
    bool json = false;
    double timeoutSeconds = 600;
    std::optional<std::string> statusTarget;
    MountOptions mount;
    std::string target;  // unmount, prefetch, stats
    bool force = false;
    bool lazy = false;
    std::vector<std::string> prefetchPaths;
    DoctorOptions doctor;
    ChangeOptions change;
};

CallTimeouts timeoutsFrom(const Arguments& arguments) {
    CallTimeouts timeouts;
    timeouts.slow =
        std::chrono::milliseconds(static_cast<int64_t>(arguments.timeoutSeconds * 1000));
    timeouts.quick = std::min(timeouts.quick, timeouts.slow);
    return timeouts;
}

// A subcommand acting on one mount: its first argument, required, names the mount.
CLI::App* addMountCommand(CLI::App& app, const std::string& name, const std::string& description,
                          std::string& target) {
    CLI::App* command = app.add_subcommand(name, description);
    command->add_option("name", target, "Mount name or path")->required();
    return command;
}

int run(int argc, char** argv) {
    Arguments args;
    CLI::App app{"megactl: control mega-fused, the lazily loaded Git working-copy daemon",
                 "megactl"};
    app.set_version_flag("--version", std::string("megactl ") + MEGAFUSE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();  // global options are accepted after the subcommand too
    app.footer(kExitCodes);
    app.add_flag("--json", args.json, "Print one JSON document (stable keys) instead of text");
    app.add_option("--timeout", args.timeoutSeconds,
                   "Seconds to wait for long operations: mount, unmount, prefetch, reload")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();

    auto* list =
        app.add_subcommand("list", "List every mount: NAME STATE REVISION COMMIT MOUNTPOINT");
    auto* status = app.add_subcommand("status", "Show the daemon, or one mount in detail");
    status->add_option("name", args.statusTarget, "Mount name, mountpoint or a path inside it");

    auto* mount = app.add_subcommand(
        "mount", "Mount a configured mount (NAME), or SOURCE at MOUNTPOINT ad hoc");
    mount
        ->add_option("name_or_source", args.mount.target,
                     "Configured mount name, or the source of an ad-hoc mount (path or URL)")
        ->required();
    mount->add_option("mountpoint", args.mount.mountPoint, "Ad-hoc mount: where to mount SOURCE");
    mount->add_option("--rev", args.mount.revision, "Ad-hoc: branch, tag or commit (default HEAD)");
    mount->add_option("--path", args.mount.subPath, "Ad-hoc: mount this folder of the repository");
    mount->add_flag("--writable", args.mount.writable, "Ad-hoc: copy-on-write overlay");
    mount->add_option("--name", args.mount.name,
                      "Ad-hoc: mount name (default: the mountpoint's folder name)");

    auto* unmount = app.add_subcommand(
        "unmount", "Unmount NAME or the mount at PATH (an ad-hoc mount is also removed)");
    unmount->add_option("name_or_path", args.target, "Mount name, mountpoint or a path inside it")
        ->required();
    auto* force = unmount->add_flag("--force", args.force, "Abort the connection even if busy");
    unmount->add_flag("--lazy", args.lazy, "Detach now, release when the last user leaves")
        ->excludes(force);

    auto* reload = app.add_subcommand("reload", "Re-read the configuration file and apply it");

    auto* prefetch =
        addMountCommand(app, "prefetch", "Fetch file contents ahead of reads", args.target);
    prefetch->add_option("paths", args.prefetchPaths,
                         "Folders or files relative to the mount root (default: everything)");

    auto* stats =
        addMountCommand(app, "stats", "Show a mount's fetch and cache counters", args.target);

    auto* changes = addMountCommand(
        app, "changes", "List a writable mount's changes like `git status --short`: A M D R T",
        args.change.target);
    changes->add_option("paths", args.change.paths,
                        "Only under these paths (relative to the mount root)");

    auto* diff = addMountCommand(
        app, "diff", "Print a writable mount's changes as a unified diff (pipe it to `git apply`)",
        args.change.target);
    diff->add_option("paths", args.change.paths,
                     "Only under these paths (relative to the mount root)");

    auto* reset =
        addMountCommand(app, "reset", "Discard changes: PATH… or --all", args.change.target);
    reset->add_option("paths", args.change.paths, "Paths relative to the mount root");
    reset->add_flag("--all", args.change.all, "Discard every change of the mount");

    auto* commit = addMountCommand(
        app, "commit", "Commit a writable mount's changes on top of its commit (local, see push)",
        args.change.target);
    commit->add_option("-m,--message", args.change.message, "The commit message")->required();
    commit->add_option("--author", args.change.author,
                       "\"Name <email>\" (default: the mount's author, then git config)");

    auto* push = addMountCommand(
        app, "push", "Push the mount's commit to its source (default: the configured branch)",
        args.change.target);
    push->add_option("ref", args.change.ref, "Branch or ref on the server (refs/heads/NAME)");

    auto* checkout = addMountCommand(
        app, "checkout", "Move a writable mount to another revision, keeping its changes",
        args.change.target);
    checkout->add_option("revision", args.change.revision, "Branch, tag or commit")->required();
    checkout->add_flag("--force", args.change.force,
                       "Drop local changes on paths the new revision changes");

    auto* doctor = app.add_subcommand(
        "doctor", "Find stale mounts, an unreachable daemon, config errors, failed mounts");
    doctor->add_option("--config", args.doctor.configPath,
                       "Check this file (default: the daemon's configuration file)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForAllHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForVersion& version) {
        return app.exit(version);
    } catch (const CLI::ParseError& error) {
        return report(
            CtlError(ExitCode::Usage, std::string(error.what()) + " (see `megactl --help`)"));
    }

    const OutputOptions output{args.json, !args.json && ProgressBar::terminalAttached()};
    const CallTimeouts timeouts = timeoutsFrom(args);
    try {
        if (app.got_subcommand(doctor)) {
            return static_cast<int>(runDoctor(timeouts, output, args.doctor));
        }
        // Usage errors first: they exit 2 whether or not the daemon is there.
        if (app.got_subcommand(mount)) {
            checkMountUsage(args.mount);
        } else if (app.got_subcommand(reset)) {
            checkResetUsage(args.change);
        } else if (app.got_subcommand(commit)) {
            checkCommitUsage(args.change);
        }
        DaemonClient client(timeouts);
        ExitCode code = ExitCode::Ok;
        if (app.got_subcommand(list)) {
            code = listMounts(client, output);
        } else if (app.got_subcommand(status)) {
            code = showStatus(client, output, args.statusTarget);
        } else if (app.got_subcommand(mount)) {
            code = mountOne(client, output, args.mount);
        } else if (app.got_subcommand(unmount)) {
            const auto mode = args.force  ? UnmountMode::Force
                              : args.lazy ? UnmountMode::Lazy
                                          : UnmountMode::Normal;
            code = unmountOne(client, output, args.target, mode);
        } else if (app.got_subcommand(reload)) {
            code = reloadConfig(client, output);
        } else if (app.got_subcommand(prefetch)) {
            code = prefetchPaths(client, output, args.target, args.prefetchPaths);
        } else if (app.got_subcommand(stats)) {
            code = showStats(client, output, args.target);
        } else if (app.got_subcommand(changes)) {
            code = listChanges(client, output, args.change);
        } else if (app.got_subcommand(diff)) {
            code = showDiff(client, output, args.change);
        } else if (app.got_subcommand(reset)) {
            code = resetChanges(client, output, args.change);
        } else if (app.got_subcommand(commit)) {
            code = commitChanges(client, output, args.change);
        } else if (app.got_subcommand(push)) {
            code = pushCommit(client, output, args.change);
        } else if (app.got_subcommand(checkout)) {
            code = checkoutRevision(client, output, args.change);
        }
        return static_cast<int>(code);
    } catch (const CtlError& error) {
        return report(error);
    } catch (const sdbus::Error& error) {
        return report(fromDbusError(error));
    } catch (const std::exception& error) {
        return report(CtlError(ExitCode::Failure, error.what()));
    }
}

}  // namespace
}  // namespace megafuse::ctl

// What escapes run (building the command line parser, a failure outside a command) is one
// "megactl: ..." line and exit 1 too, never std::terminate's abort.
int main(int argc, char** argv) {
    using megafuse::ctl::CtlError;
    using megafuse::ctl::ExitCode;
    try {
        return megafuse::ctl::run(argc, argv);
    } catch (const std::exception& error) {
        return megafuse::ctl::report(CtlError(ExitCode::Failure, error.what()));
    } catch (...) {
        return megafuse::ctl::report(CtlError(ExitCode::Failure, "unknown exception"));
    }
}
