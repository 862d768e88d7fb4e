// Commands: rendering lives next to each command so the JSON keys documented in docs/megactl.md
// can be checked against one place (mountJson) when the contract grows.
#include "Commands.hpp"

#include <array>
#include <charconv>
#include <filesystem>
#include <iostream>

#include "CtlError.hpp"
#include "Json.hpp"
#include "ProgressBar.hpp"
#include "Table.hpp"

namespace megafuse::ctl {
namespace {

constexpr size_t kShortCommitLength = 12;
constexpr size_t kMaxMountNameLength = 64;

std::string orDash(const std::string& value) {
    return value.empty() ? "-" : value;
}

std::string shortCommit(const std::string& commitId) {
    return orDash(commitId.substr(0, kShortCommitLength));
}

std::string yesNo(bool value) {
    return value ? "yes" : "no";
}

// printf's "%.<precision>f" without its varargs and unchecked result: both round the exact binary
// value. 64 characters hold every value shown here (sizes below 2^64 in their unit, percentages).
std::string fixedPoint(double value, int precision) {
    std::array<char, 64> text{};
    const auto [end, error] = std::to_chars(text.data(), text.data() + text.size(), value,
                                            std::chars_format::fixed, precision);
    if (error != std::errc{}) {
        return "?";
    }
    return {text.data(), end};
}

std::string humanBytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    auto value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
        value /= 1024.0;
        ++unit;
    }
    return fixedPoint(value, unit == 0 ? 0 : 1) + " " + kUnits[unit];
}

// The documented JSON shape of one mount (docs/megactl.md, "JSON output").
JsonObject mountJson(const MountInfo& mount) {
    JsonObject json;
    json.add("name", mount.name)
        .add("state", mount.state)
        .add("source", mount.source)
        .add("revision", mount.revision)
        .add("commit", mount.commitId)
        .add("path", mount.subPath)
        .add("mountpoint", mount.mountPoint)
        .add("writable", mount.writable)
        .add("automount", mount.automount)
        .add("configured", mount.configured)
        .add("last_error", mount.lastError)
        .add("objects_fetched", mount.objectsFetched)
        .add("bytes_fetched", mount.bytesFetched)
        .add("cache_hits", mount.cacheHits)
        .add("cache_misses", mount.cacheMisses)
        .add("object_path", mount.objectPath);
    return json;
}

std::vector<JsonObject> mountsJson(const std::vector<MountInfo>& mounts) {
    std::vector<JsonObject> list;
    list.reserve(mounts.size());
    for (const auto& mount : mounts) {
        list.push_back(mountJson(mount));
    }
    return list;
}

void printMountTable(const std::vector<MountInfo>& mounts) {
    if (mounts.empty()) {
        std::cout << "No mounts. Add one to the configuration file or run "
                     "`megactl mount SOURCE MOUNTPOINT`.\n";
        return;
    }
    Table table({"NAME", "STATE", "REVISION", "COMMIT", "MOUNTPOINT"});
    for (const auto& mount : mounts) {
        table.addRow({mount.name, mount.state, orDash(mount.revision), shortCommit(mount.commitId),
                      mount.mountPoint});
    }
    table.print(std::cout);
}

void printMountDetails(const MountInfo& mount) {
    Table table({"name:", mount.name});
    table.addRow({"state:", mount.state});
    table.addRow({"source:", mount.source});
    table.addRow({"revision:", orDash(mount.revision)});
    table.addRow({"commit:", orDash(mount.commitId)});
    table.addRow({"path:", mount.subPath.empty() ? "/" : mount.subPath});
    table.addRow({"mountpoint:", mount.mountPoint});
    table.addRow({"writable:", yesNo(mount.writable)});
    table.addRow({"automount:", yesNo(mount.automount)});
    table.addRow({"configured:", mount.configured ? "yes" : "no (ad hoc)"});
    table.addRow({"last error:", orDash(mount.lastError)});
    table.print(std::cout);
}

void printMountResult(const OutputOptions& output, const MountInfo& mount) {
    if (output.json) {
        std::cout << mountJson(mount).str() << '\n';
        return;
    }
    std::cout << "mounted " << mount.name << " at " << mount.mountPoint << " (revision "
              << orDash(mount.revision) << ", commit " << shortCommit(mount.commitId) << ")\n";
}

bool looksLikeUrl(const std::string& source) {
    if (source.find("://") != std::string::npos) {
        return true;
    }
    // scp-like "[user@]host:path": a colon before any slash, as git itself decides.
    const auto colon = source.find(':');
    return colon != std::string::npos && colon > 0 && source.find('/') > colon;
}

std::string absolutePath(const std::string& path) {
    auto absolute = std::filesystem::absolute(path).lexically_normal();
    std::string text = absolute.string();
    while (text.size() > 1 && text.back() == '/') {
        text.pop_back();
    }
    return text;
}

}  // namespace

std::string normalizeNameOrPath(const std::string& argument) {
    if (argument.find('/') == std::string::npos && argument != "." && argument != "..") {
        return argument;
    }
    return absolutePath(argument);
}

std::string nameFromMountPoint(const std::string& mountPoint) {
    std::string name;
    for (const char c : std::filesystem::path(absolutePath(mountPoint)).filename().string()) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        name += allowed ? c : '-';
    }
    if (name.size() > kMaxMountNameLength) {
        name.resize(kMaxMountNameLength);
    }
    if (name.empty() || name == "." || name == "..") {
        name = "mount";
    }
    return name;
}

ExitCode listMounts(DaemonClient& client, const OutputOptions& output) {
    const auto mounts = client.listMounts();
    if (output.json) {
        std::cout << JsonObject().add("mounts", mountsJson(mounts)).str() << '\n';
    } else {
        printMountTable(mounts);
    }
    return ExitCode::Ok;
}

ExitCode showStatus(DaemonClient& client, const OutputOptions& output,
                    const std::optional<std::string>& nameOrPath) {
    if (nameOrPath) {
        const auto mount = client.mountInfo(client.resolveMount(normalizeNameOrPath(*nameOrPath)));
        if (output.json) {
            std::cout << mountJson(mount).str() << '\n';
        } else {
            printMountDetails(mount);
        }
        return ExitCode::Ok;
    }
    const std::string version = client.daemonVersion();
    const std::string configPath = client.configPath();
    const auto mounts = client.listMounts();
    if (output.json) {
        JsonObject daemon;
        daemon.add("version", version).add("config_path", configPath);
        std::cout << JsonObject().add("daemon", daemon).add("mounts", mountsJson(mounts)).str()
                  << '\n';
        return ExitCode::Ok;
    }
    std::cout << "mega-fused " << version << ", configuration " << orDash(configPath) << "\n\n";
    printMountTable(mounts);
    return ExitCode::Ok;
}

void checkMountUsage(const MountOptions& options) {
    if (!options.mountPoint &&
        (options.revision || options.subPath || options.name || options.writable)) {
        throw CtlError(ExitCode::Usage,
                       "--rev, --path, --name and --writable describe an ad-hoc mount: "
                       "megactl mount SOURCE MOUNTPOINT [options]");
    }
}

ExitCode mountOne(DaemonClient& client, const OutputOptions& output, const MountOptions& options) {
    checkMountUsage(options);
    std::string objectPath;
    {
        ProgressBar bar(output.progress);  // erased before the result is printed
        if (options.mountPoint) {
            AddMountSpec spec;
            spec.mountPoint = absolutePath(*options.mountPoint);
            spec.source =
                looksLikeUrl(options.target) ? options.target : absolutePath(options.target);
            spec.name = options.name ? *options.name : nameFromMountPoint(spec.mountPoint);
            spec.revision = options.revision;
            spec.subPath = options.subPath;
            spec.writable = options.writable;
            objectPath = client.addMount(spec, bar.handler());
        } else {
            objectPath = client.resolveMount(normalizeNameOrPath(options.target));
            client.mount(objectPath, bar.handler());
        }
    }
    printMountResult(output, client.mountInfo(objectPath));
    return ExitCode::Ok;
}

ExitCode unmountOne(DaemonClient& client, const OutputOptions& output,
                    const std::string& nameOrPath, UnmountMode mode) {
    const auto mount = client.mountInfo(client.resolveMount(normalizeNameOrPath(nameOrPath)));
    // An ad-hoc mount exists only to be mounted: unmounting it also forgets it, so the same
    // `megactl mount SOURCE MOUNTPOINT` works again. A configured one stays, unmounted.
    const bool removed = !mount.configured;
    try {
        if (removed) {
            client.removeMount(mount.name, mode);
        } else {
            client.unmount(mount.objectPath, mode);
        }
    } catch (const sdbus::Error& error) {
        if (error.getName() != "com.gitmega.MegaFuse1.Error.Busy") {
            throw;
        }
        // The daemon speaks of its API's options; the user wants this command's flags. One
        // line, as every megactl error.
        const CtlError busy = fromDbusError(error);
        throw CtlError(busy.code(), std::string(busy.what()) + " (megactl unmount --lazy " +
                                        mount.name +
                                        ": detach now, release when the last user leaves; "
                                        "--force: abort their I/O)");
    }
    if (output.json) {
        JsonObject json;
        json.add("name", mount.name)
            .add("mountpoint", mount.mountPoint)
            .add("state", "unmounted")
            .add("removed", removed);
        std::cout << json.str() << '\n';
    } else {
        std::cout << "unmounted " << mount.name << " from " << mount.mountPoint
                  << (removed ? " (ad-hoc mount removed)" : "") << '\n';
    }
    return ExitCode::Ok;
}

ExitCode reloadConfig(DaemonClient& client, const OutputOptions& output) {
    client.reload();
    const std::string configPath = client.configPath();
    const std::vector<std::string> restartPending = client.restartPending();
    if (output.json) {
        std::cout << JsonObject()
                         .add("reloaded", true)
                         .add("config_path", configPath)
                         .add("restart_pending", restartPending)
                         .str()
                  << '\n';
    } else {
        std::cout << "reloaded " << orDash(configPath) << '\n';
        if (!restartPending.empty()) {
            std::string keys;
            for (const auto& key : restartPending) {
                keys += (keys.empty() ? "" : ", ") + key;
            }
            std::cerr << "megactl: " << keys
                      << " changed: the daemon applies them when it restarts "
                         "(systemctl --user restart mega-fuse)\n";
        }
    }
    return ExitCode::Ok;
}

ExitCode prefetchPaths(DaemonClient& client, const OutputOptions& output,
                       const std::string& nameOrPath, const std::vector<std::string>& paths) {
    const auto objectPath = client.resolveMount(normalizeNameOrPath(nameOrPath));
    uint64_t fetched = 0;
    {
        ProgressBar bar(output.progress);
        fetched = client.prefetch(objectPath, paths, bar.handler());
    }
    const auto mount = client.mountInfo(objectPath);
    if (output.json) {
        std::cout << JsonObject()
                         .add("name", mount.name)
                         .add("paths", paths)
                         .add("objects_fetched", fetched)
                         .str()
                  << '\n';
    } else {
        std::cout << "prefetched " << fetched << " objects for " << mount.name << '\n';
    }
    return ExitCode::Ok;
}

ExitCode showStats(DaemonClient& client, const OutputOptions& output,
                   const std::string& nameOrPath) {
    const auto mount = client.mountInfo(client.resolveMount(normalizeNameOrPath(nameOrPath)));
    if (output.json) {
        std::cout << JsonObject()
                         .add("name", mount.name)
                         .add("objects_fetched", mount.objectsFetched)
                         .add("bytes_fetched", mount.bytesFetched)
                         .add("cache_hits", mount.cacheHits)
                         .add("cache_misses", mount.cacheMisses)
                         .str()
                  << '\n';
        return ExitCode::Ok;
    }
    const uint64_t lookups = mount.cacheHits + mount.cacheMisses;
    std::string ratio = "-";
    if (lookups > 0) {
        const double hitPercent =
            100.0 * static_cast<double>(mount.cacheHits) / static_cast<double>(lookups);
        ratio = fixedPoint(hitPercent, 1) + "%";
    }
    Table table({"objects fetched:", std::to_string(mount.objectsFetched)});
    table.addRow({"bytes fetched:", std::to_string(mount.bytesFetched) + " (" +
                                        humanBytes(mount.bytesFetched) + ")"});
    table.addRow({"cache hits:", std::to_string(mount.cacheHits)});
    table.addRow({"cache misses:", std::to_string(mount.cacheMisses)});
    table.addRow({"hit ratio:", ratio});
    std::cout << mount.name << '\n';
    table.print(std::cout);
    return ExitCode::Ok;
}

}  // namespace megafuse::ctl
