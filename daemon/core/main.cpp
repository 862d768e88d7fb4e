// mega-fused: the daemon's entry point. Parses the command line (CLI11) and runs one command;
// with no subcommand the per-user service (core/Service.hpp), `mount` one foreground mount.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <system_error>

#include "common/Log.hpp"
#include "common/MallocBounds.hpp"
#include "core/MountCommand.hpp"
#include "core/Service.hpp"
#include "core/SignalFd.hpp"

#ifndef MEGAFUSE_VERSION
#define MEGAFUSE_VERSION "unknown"
#endif

namespace {

using megafuse::core::kExitFailure;
using megafuse::core::kExitUsage;

// A write to a pipe whose reader is gone (a git child that exited early) must fail with EPIPE
// where it happens, not kill the daemon.
void ignoreSigpipe() {
    if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        throw std::system_error(errno, std::generic_category(), "signal(SIGPIPE)");
    }
}

int run(int argc, char** argv) {
    // Everything the daemon and its git children write (clones, content cache, overlays, state)
    // holds repository content or credentials: this user only (docs/dbus-api.md, "Security").
    ::umask(077);
    // Before any thread exists: arenas are made per thread (common/MallocBounds.hpp).
    megafuse::common::applyMallocBounds();

    CLI::App app{"mega-fused: a Git revision as a lazily loaded, read-only directory tree",
                 "mega-fused"};
    app.set_version_flag("--version", "mega-fused " MEGAFUSE_VERSION);
    app.require_subcommand(0, 1);  // none: the service (core/Service.hpp)

    megafuse::core::ServiceOptions service;
    megafuse::core::addServiceOptions(app, service);

    megafuse::core::MountCommandOptions mount;
    std::string logLevel = "info";
    CLI::App* mountCommand = app.add_subcommand(
        "mount", "Mount one revision of SOURCE at MOUNTPOINT and serve it until SIGINT/SIGTERM");
    mountCommand
        ->add_option("SOURCE", mount.source,
                     "local repository path, or file://, git://, http(s):// URL")
        ->required();
    mountCommand->add_option("MOUNTPOINT", mount.mountpoint, "an existing directory")->required();
    mountCommand->add_option("--rev", mount.revision, "branch, tag or commit to show")
        ->capture_default_str();
    mountCommand->add_option("--path", mount.subPath, "show only this folder of the revision");
    mountCommand->add_option("--cache-dir", mount.cacheDir,
                             "partial clones and content cache (default: XDG cache)");
    mountCommand
        ->add_option("--content-cache-size", mount.contentCacheBytes,
                     "on-disk blob cache budget in bytes (suffixes: K, M, G)")
        ->transform(CLI::AsSizeValue(false));
    mountCommand
        ->add_option("--tree-cache-size", mount.treeCacheBytes,
                     "in-memory tree cache budget in bytes (suffixes: K, M, G)")
        ->transform(CLI::AsSizeValue(false));
    mountCommand
        ->add_option("--fetch-timeout", mount.fetchTimeoutSeconds,
                     "seconds one fetch round trip may take")
        ->check(CLI::Range(1U, 86400U))
        ->capture_default_str();
    mountCommand->add_option("--log-level", logLevel, "trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();
    CLI::Option* writableFlag = mountCommand->add_flag(
        "--writable", mount.writable,
        "copy-on-write: changes are kept in an overlay folder across mounts");
    mountCommand
        ->add_option("--overlay-dir", mount.overlayDir,
                     "the overlay folder of a writable mount (default: "
                     "<state dir>/overlays/mount-<hash of the mount point>)")
        ->needs(writableFlag);
    mountCommand->add_option("--token-file", mount.tokenFile,
                             "Mega: file whose first line is a bearer token (mode 600)");
    mountCommand
        ->add_option("--refresh-interval", mount.refreshIntervalSeconds,
                     "Mega at HEAD, read-only: seconds between polls for upstream changes "
                     "(0: never)")
        ->check(CLI::Range(0U, 86400U))
        ->capture_default_str();
    mountCommand->add_flag("--allow-other", mount.allowOther,
                           "let other users see the mount (non-root: user_allow_other in "
                           "/etc/fuse.conf)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);  // prints help, version or the error
        return status == 0 ? 0 : kExitUsage;
    }

    if (app.get_subcommands().empty()) {
        // Before any thread exists, so every thread inherits the blocked mask.
        megafuse::core::SignalFd signals({SIGINT, SIGTERM, SIGHUP});
        ignoreSigpipe();
        megafuse::initLogging("info");
        return megafuse::core::runService(service, signals);
    }

    // Before any thread exists, so every thread inherits the blocked mask.
    megafuse::core::SignalFd signals({SIGINT, SIGTERM});
    ignoreSigpipe();
    megafuse::initLogging(logLevel);
    return megafuse::core::runMountCommand(mount, signals);
}

}  // namespace

// Whatever escapes a command (setting up the signals or the log, building the command line
// parser) is one line on stderr and a failure status, never std::terminate's abort.
int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mega-fused: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "mega-fused: unknown exception\n");
    }
    return kExitFailure;
}
