// ChangeClient: DaemonClient's calls for writable mounts (Mount.Changes, Diff, Reset, Commit,
// Push, Checkout). Plain blocking calls: none of them reports progress.
#include <sdbus-c++/sdbus-c++.h>

#include <map>

#include "DaemonClient.hpp"
#include "MegaFuse1Proxy.hpp"

namespace megafuse::ctl {
namespace {

using Dictionary = std::map<std::string, sdbus::Variant>;
using ChangeRow = sdbus::Struct<std::string, std::string, std::string, std::string, std::string>;

constexpr const char* kMountInterface = com::gitmega::MegaFuse1::Mount_proxy::INTERFACE_NAME;

}  // namespace

std::vector<ChangedPath> DaemonClient::changes(const std::string& objectPath,
                                               const std::vector<std::string>& paths) {
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    std::vector<ChangeRow> rows;
    proxy->callMethod("Changes")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(paths, Dictionary{})
        .storeResultsTo(rows);
    std::vector<ChangedPath> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
        out.push_back(
            ChangedPath{row.get<0>(), row.get<1>(), row.get<2>(), row.get<3>(), row.get<4>()});
    }
    return out;
}

std::string DaemonClient::diff(const std::string& objectPath,
                               const std::vector<std::string>& paths) {
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    std::string text;
    proxy->callMethod("Diff")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(paths)
        .storeResultsTo(text);
    return text;
}

uint32_t DaemonClient::reset(const std::string& objectPath, const std::vector<std::string>& paths) {
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    uint32_t count = 0;
    proxy->callMethod("Reset")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(paths)
        .storeResultsTo(count);
    return count;
}

std::string DaemonClient::commit(const std::string& objectPath, const std::string& message,
                                 const std::optional<Author>& author) {
    Dictionary options;
    if (author) {
        options["author_name"] = sdbus::Variant(author->name);
        options["author_email"] = sdbus::Variant(author->email);
    }
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    std::string commitId;
    proxy->callMethod("Commit")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(message, options)
        .storeResultsTo(commitId);
    return commitId;
}

std::string DaemonClient::push(const std::string& objectPath, const std::string& ref) {
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    std::string report;
    proxy->callMethod("Push")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(ref)
        .storeResultsTo(report);
    return report;
}

std::string DaemonClient::checkout(const std::string& objectPath, const std::string& revision,
                                   bool force) {
    Dictionary options;
    if (force) {
        options["force"] = sdbus::Variant(true);
    }
    auto proxy = sdbus::createProxy(*connection_, kBusName, objectPath);
    std::string commitId;
    proxy->callMethod("Checkout")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(revision, options)
        .storeResultsTo(commitId);
    return commitId;
}

}  // namespace megafuse::ctl
