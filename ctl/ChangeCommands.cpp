// ChangeCommands: the text forms follow git (status letters, raw diff on stdout so it pipes into
// `git apply`); the JSON keys are documented in docs/megactl.md.
#include "ChangeCommands.hpp"

#include <iostream>

#include "Json.hpp"

namespace megafuse::ctl {
namespace {

constexpr size_t kShortCommitLength = 12;

std::string shortCommit(const std::string& id) {
    return id.substr(0, kShortCommitLength);
}

JsonObject changeJson(const ChangedPath& change) {
    JsonObject json;
    json.add("status", change.status)
        .add("path", change.path)
        .add("old_path", change.oldPath)
        .add("old_mode", change.oldMode)
        .add("new_mode", change.newMode);
    return json;
}

}  // namespace

Author parseAuthor(const std::string& text) {
    const auto open = text.rfind('<');
    const auto close = text.rfind('>');
    if (open == std::string::npos || close == std::string::npos || close < open ||
        close + 1 != text.size()) {
        throw CtlError(ExitCode::Usage,
                       "--author must look like \"Name <email>\", got '" + text + "'");
    }
    std::string name = text.substr(0, open);
    while (!name.empty() && name.back() == ' ') {
        name.pop_back();
    }
    std::string email = text.substr(open + 1, close - open - 1);
    if (name.empty() || email.empty()) {
        throw CtlError(ExitCode::Usage,
                       "--author must look like \"Name <email>\", got '" + text + "'");
    }
    return Author{name, email};
}

void checkResetUsage(const ChangeOptions& options) {
    if (options.paths.empty() && !options.all) {
        throw CtlError(ExitCode::Usage,
                       "reset discards local changes: name the paths, or pass --all to discard "
                       "every change");
    }
    if (!options.paths.empty() && options.all) {
        throw CtlError(ExitCode::Usage, "reset takes paths or --all, not both");
    }
}

void checkCommitUsage(const ChangeOptions& options) {
    if (options.author) {
        (void)parseAuthor(*options.author);
    }
    if (options.message.find_first_not_of(" \t\r\n") == std::string::npos) {
        throw CtlError(ExitCode::Usage, "the commit message must not be empty (-m MESSAGE)");
    }
}

ExitCode listChanges(DaemonClient& client, const OutputOptions& output,
                     const ChangeOptions& options) {
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const auto list = client.changes(objectPath, options.paths);
    if (output.json) {
        std::vector<JsonObject> rows;
        rows.reserve(list.size());
        for (const auto& change : list) {
            rows.push_back(changeJson(change));
        }
        std::cout << JsonObject()
                         .add("name", client.mountInfo(objectPath).name)
                         .add("changes", rows)
                         .str()
                  << '\n';
        return ExitCode::Ok;
    }
    for (const auto& change : list) {
        // `git status --short` after `git add -A`: the letter, then the path (old -> new).
        std::cout << change.status << "  "
                  << (change.oldPath.empty() ? "" : change.oldPath + " -> ") << change.path << '\n';
    }
    return ExitCode::Ok;
}

ExitCode showDiff(DaemonClient& client, const OutputOptions& output, const ChangeOptions& options) {
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const std::string text = client.diff(objectPath, options.paths);
    if (output.json) {
        std::cout
            << JsonObject().add("name", client.mountInfo(objectPath).name).add("diff", text).str()
            << '\n';
        return ExitCode::Ok;
    }
    std::cout << text;  // as is: `megactl diff NAME | git apply`
    return ExitCode::Ok;
}

ExitCode resetChanges(DaemonClient& client, const OutputOptions& output,
                      const ChangeOptions& options) {
    checkResetUsage(options);
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const uint32_t count = client.reset(objectPath, options.paths);
    const auto mount = client.mountInfo(objectPath);
    if (output.json) {
        std::cout << JsonObject()
                         .add("name", mount.name)
                         .add("paths", options.paths)
                         .add("reset", static_cast<uint64_t>(count))
                         .str()
                  << '\n';
        return ExitCode::Ok;
    }
    std::cout << "reset " << count << (count == 1 ? " changed path" : " changed paths") << " in "
              << mount.name << '\n';
    return ExitCode::Ok;
}

ExitCode commitChanges(DaemonClient& client, const OutputOptions& output,
                       const ChangeOptions& options) {
    checkCommitUsage(options);
    std::optional<Author> author;
    if (options.author) {
        author = parseAuthor(*options.author);
    }
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const std::string commitId = client.commit(objectPath, options.message, author);
    const auto mount = client.mountInfo(objectPath);
    if (output.json) {
        std::cout << JsonObject().add("name", mount.name).add("commit", commitId).str() << '\n';
        return ExitCode::Ok;
    }
    std::cout << "committed " << shortCommit(commitId) << " in " << mount.name << '\n';
    return ExitCode::Ok;
}

ExitCode pushCommit(DaemonClient& client, const OutputOptions& output,
                    const ChangeOptions& options) {
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const std::string report = client.push(objectPath, options.ref);
    const auto mount = client.mountInfo(objectPath);
    if (output.json) {
        std::cout << JsonObject()
                         .add("name", mount.name)
                         .add("commit", mount.commitId)
                         .add("ref", options.ref)
                         .add("message", report)
                         .str()
                  << '\n';
        return ExitCode::Ok;
    }
    std::cout << report;
    if (!report.empty() && report.back() != '\n') {
        std::cout << '\n';
    }
    std::cout << "pushed " << shortCommit(mount.commitId) << " from " << mount.name << '\n';
    return ExitCode::Ok;
}

ExitCode checkoutRevision(DaemonClient& client, const OutputOptions& output,
                          const ChangeOptions& options) {
    const auto objectPath = client.resolveMount(normalizeNameOrPath(options.target));
    const std::string commitId = client.checkout(objectPath, options.revision, options.force);
    const auto mount = client.mountInfo(objectPath);
    if (output.json) {
        std::cout << JsonObject()
                         .add("name", mount.name)
                         .add("revision", options.revision)
                         .add("commit", commitId)
                         .str()
                  << '\n';
        return ExitCode::Ok;
    }
    std::cout << "checked out " << options.revision << " (" << shortCommit(commitId) << ") in "
              << mount.name << ", local changes kept\n";
    return ExitCode::Ok;
}

}  // namespace megafuse::ctl
