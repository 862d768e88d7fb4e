// ChangeCommands: megactl's subcommands for writable mounts — changes, diff, reset, commit,
// push, checkout — each one D-Bus call on the mount object, printed for people or as JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "Commands.hpp"

namespace megafuse::ctl {

struct ChangeOptions {
    std::string target;                 // NAME or a path inside the mount
    std::vector<std::string> paths;     // changes, diff, reset: relative to the mount root
    bool all = false;                   // reset: everything
    std::string message;                // commit -m
    std::optional<std::string> author;  // commit --author "Name <email>"
    std::string ref;                    // push [REF]
    std::string revision;               // checkout REV
    bool force = false;                 // checkout --force
};

// The usage errors of reset and commit that need no daemon (reset without paths or --all,
// an empty message, a malformed --author), checked before connecting. Throws CtlError(Usage).
void checkResetUsage(const ChangeOptions& options);
void checkCommitUsage(const ChangeOptions& options);

ExitCode listChanges(DaemonClient& client, const OutputOptions& output,
                     const ChangeOptions& options);
ExitCode showDiff(DaemonClient& client, const OutputOptions& output, const ChangeOptions& options);
ExitCode resetChanges(DaemonClient& client, const OutputOptions& output,
                      const ChangeOptions& options);
ExitCode commitChanges(DaemonClient& client, const OutputOptions& output,
                       const ChangeOptions& options);
ExitCode pushCommit(DaemonClient& client, const OutputOptions& output,
                    const ChangeOptions& options);
ExitCode checkoutRevision(DaemonClient& client, const OutputOptions& output,
                          const ChangeOptions& options);

// "Name <email>" → Author; CtlError(Usage) for anything else.
Author parseAuthor(const std::string& text);

}  // namespace megafuse::ctl
