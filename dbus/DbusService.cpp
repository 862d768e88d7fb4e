// DbusService: adaptor implementations. Every handler is guarded: sdbus-c++ 1.2 only catches
// sdbus::Error, so anything else is turned into one here (ManagerError by its mapped name).
#include "dbus/DbusService.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "MegaFuse1Adaptor.hpp"
#include "dbus/BusText.hpp"
#include "dbus/CallArguments.hpp"
#include "dbus/ErrorMapping.hpp"
#include "dbus/ObjectPaths.hpp"

namespace megafuse::dbus {
namespace {

using manager::ManagerErrc;
using manager::ManagerError;
// One row of Manager.ListMounts: (ossssssbbbsstttta{sv}), in the XML's field order.
using MountRow = sdbus::Struct<sdbus::ObjectPath, std::string, std::string, std::string,
                               std::string, std::string, std::string, bool, bool, bool, std::string,
                               std::string, uint64_t, uint64_t, uint64_t, uint64_t, Options>;

sdbus::Error asDbusError(std::exception_ptr error) {
    try {
        std::rethrow_exception(std::move(error));
    } catch (const ManagerError& e) {
        return toDbusError(e);
    } catch (const sdbus::Error& e) {
        return e;
    } catch (const std::exception& e) {
        return {kFailed, escapeNonUtf8(e.what())};
    } catch (...) {
        return sdbus::Error(kFailed, "unknown error");
    }
}

// Runs a synchronous handler; lets only sdbus::Error out.
template <typename Fn>
auto guardSync(Fn&& handler) -> decltype(handler()) {
    try {
        return handler();
    } catch (...) {
        throw asDbusError(std::current_exception());
    }
}

// Sends an error reply, never throwing (the caller may be gone).
template <typename... R>
void replyError(const sdbus::Result<R...>& result, const sdbus::Error& error) noexcept {
    try {
        result.returnError(error);
    } catch (const std::exception& e) {
        spdlog::warn("D-Bus: cannot send error reply {}: {}", error.getName(), e.what());
    }
}

// Runs the synchronous part of an async handler; an exception becomes the error reply.
template <typename... R, typename Fn>
void guardAsync(const sdbus::Result<R...>& result, Fn&& handler) noexcept {
    try {
        handler();
    } catch (...) {
        replyError(result, asDbusError(std::current_exception()));
    }
}

using ChangeRow = sdbus::Struct<std::string, std::string, std::string, std::string, std::string>;

// A tree or overlay name may be any bytes; a D-Bus string must be UTF-8 (BusText).
std::vector<ChangeRow> changeRows(const std::vector<changes::Change>& list) {
    std::vector<ChangeRow> rows;
    rows.reserve(list.size());
    for (const auto& change : list) {
        rows.emplace_back(std::string(1, changes::statusLetter(change.kind)),
                          quotePath(change.path), quotePath(change.oldPath), change.oldMode,
                          change.newMode);
    }
    return rows;
}

// A diff's paths are quoted as Git quotes them (UnifiedDiff), but its lines are the files' bytes:
// a text file in Latin-1 cannot travel in the reply's string. Said so, rather than sent altered
// (the diff is meant for git apply) or not at all (sd-bus refuses it, the caller would wait).
std::optional<ManagerError> diffNotUtf8(const std::string& text) {
    if (isUtf8(text)) {
        return std::nullopt;
    }
    return ManagerError(ManagerErrc::Failed,
                        "the diff holds file content that is not UTF-8, which a D-Bus string "
                        "cannot carry; diff other paths, or run git diff in a checkout");
}

// Only the user the daemon runs as may call its methods (docs/dbus-api.md, "Security"). A session
// bus already keeps other users out; this holds on a bus whose policy lets them in. Properties and
// GetManagedObjects are answered by sd-bus without the caller reaching us (sdbus-c++ 1.2), so
// they are not covered: they show mount metadata, never content or credentials.
void requireOwner(const sdbus::IObject& object) {
    const sdbus::Message* call = object.getCurrentlyProcessedMessage();
    // The bus driver's own view of the sender (GetConnectionCredentials), not anything the caller
    // says; no message or no credentials is refused too.
    const uid_t caller = call != nullptr ? call->getCredsUid() : static_cast<uid_t>(-1);
    if (caller != ::geteuid()) {
        throw sdbus::Error(kAccessDenied, "mega-fused serves only its own user (uid " +
                                              std::to_string(::geteuid()) + "), not uid " +
                                              std::to_string(caller));
    }
}

// Completion of an async call: posts the reply to the main thread.
template <typename... R>
class PendingReply {
public:
    PendingReply(sdbus::Result<R...>&& result, std::function<void(std::function<void()>)> post)
        : result_(std::make_shared<sdbus::Result<R...>>(std::move(result))),
          post_(std::move(post)) {}

    [[nodiscard]] const sdbus::Result<R...>& result() const { return *result_; }

    void complete(const std::optional<ManagerError>& error, R... values) const {
        post_([result = result_, error, values...] {
            if (error) {
                replyError(*result, toDbusError(*error));
                return;
            }
            try {
                result->returnResults(values...);
            } catch (const std::exception& e) {
                spdlog::warn("D-Bus: cannot send reply: {}", e.what());
            }
        });
    }

private:
    std::shared_ptr<sdbus::Result<R...>> result_;
    std::function<void(std::function<void()>)> post_;
};

}  // namespace

class ManagerObject final
    : public sdbus::AdaptorInterfaces<com::gitmega::MegaFuse1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor, sdbus::Properties_adaptor> {
public:
    ManagerObject(sdbus::IConnection& connection, manager::MountManager& manager,
                  const ServiceHooks& hooks)
        : AdaptorInterfaces(connection, kRootPath), manager_(manager), hooks_(hooks) {
        registerAdaptor();
    }
    ~ManagerObject() { unregisterAdaptor(); }
    ManagerObject(const ManagerObject&) = delete;
    ManagerObject& operator=(const ManagerObject&) = delete;

private:
    void Reload() override {
        requireOwner(getObject());
        guardSync([&] { hooks_.reload(); });
        emitPropertiesChangedSignal(com::gitmega::MegaFuse1::Manager_adaptor::INTERFACE_NAME,
                                    {"RestartPending"});
    }

    void AddMount(sdbus::Result<sdbus::ObjectPath>&& result, Options spec) override {
        requireOwner(getObject());
        PendingReply<sdbus::ObjectPath> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            manager::MountSpec parsed = parseMountSpec(spec);
            const sdbus::ObjectPath path(mountObjectPath(parsed.name));
            manager_.addMount(parsed, [reply, path](const std::optional<ManagerError>& error) {
                reply.complete(error, path);
            });
        });
    }

    void RemoveMount(sdbus::Result<>&& result, std::string name, Options options) override {
        requireOwner(getObject());
        PendingReply<> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            if (name.empty()) {
                throw invalidArgs("name must not be empty");
            }
            manager_.removeMount(
                name, parseUnmountOptions(options),
                [reply](const std::optional<ManagerError>& error) { reply.complete(error); });
        });
    }

    sdbus::ObjectPath ResolveMount(const std::string& nameOrPath) override {
        requireOwner(getObject());
        return guardSync([&] {
            if (nameOrPath.empty()) {
                throw invalidArgs("name_or_path must not be empty");
            }
            return sdbus::ObjectPath(mountObjectPath(manager_.resolve(nameOrPath)));
        });
    }

    std::vector<MountRow> ListMounts() override {
        requireOwner(getObject());
        return guardSync([&] {
            auto mounts = manager_.list();
            std::sort(mounts.begin(), mounts.end(),
                      [](const auto& a, const auto& b) { return a.config.name < b.config.name; });
            std::vector<MountRow> rows;
            rows.reserve(mounts.size());
            for (const auto& m : mounts) {
                rows.emplace_back(
                    sdbus::ObjectPath(mountObjectPath(m.config.name)), m.config.name,
                    escapeNonUtf8(m.config.source.describe()), escapeNonUtf8(m.config.revision),
                    m.commitId, escapeNonUtf8(m.config.subPath),
                    escapeNonUtf8(m.config.mountpoint.string()), m.config.writable,
                    m.config.automount, m.configured, manager::toString(m.state),
                    escapeNonUtf8(m.lastError), m.stats.objectsFetched, m.stats.bytesFetched,
                    m.stats.cacheHits, m.stats.cacheMisses, Options{});
            }
            return rows;
        });
    }

    std::string Version() override { return MEGAFUSE_VERSION; }
    std::vector<std::string> RestartPending() override {
        return guardSync([&] { return hooks_.restartPending(); });
    }
    std::string ConfigPath() override {
        return guardSync([&] { return hooks_.configPath(); });
    }

    manager::MountManager& manager_;
    const ServiceHooks& hooks_;
};

class MountObject final
    : public sdbus::AdaptorInterfaces<com::gitmega::MegaFuse1::Mount_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    MountObject(sdbus::IConnection& connection, manager::MountManager& manager,
                const ServiceHooks& hooks, manager::MountInfo info)
        : AdaptorInterfaces(connection, mountObjectPath(info.config.name)),
          manager_(manager),
          hooks_(hooks),
          name_(info.config.name),
          info_(std::move(info)) {
        registerAdaptor();
        emitInterfacesAddedSignal();
    }
    ~MountObject() {
        try {
            emitInterfacesRemovedSignal();
        } catch (const std::exception& e) {
            spdlog::warn("D-Bus: InterfacesRemoved for '{}': {}", name_, e.what());
        }
        unregisterAdaptor();
    }
    MountObject(const MountObject&) = delete;
    MountObject& operator=(const MountObject&) = delete;

    // Takes the new state and announces the properties that differ (main thread).
    void update(manager::MountInfo info) {
        std::vector<std::string> changed;
        auto check = [&](bool differs, const char* property) {
            if (differs) {
                changed.emplace_back(property);
            }
        };
        const auto& before = info_;
        check(before.config.source != info.config.source, "Source");
        check(before.config.revision != info.config.revision, "Revision");
        check(before.commitId != info.commitId, "CommitId");
        check(before.config.subPath != info.config.subPath, "SubPath");
        check(before.config.mountpoint != info.config.mountpoint, "MountPoint");
        check(before.config.writable != info.config.writable, "Writable");
        check(before.config.automount != info.config.automount, "Automount");
        check(before.configured != info.configured, "Configured");
        check(before.state != info.state, "State");
        check(before.lastError != info.lastError, "LastError");
        info_ = std::move(info);
        if (!changed.empty()) {
            emitPropertiesChangedSignal(com::gitmega::MegaFuse1::Mount_adaptor::INTERFACE_NAME,
                                        changed);
        }
    }

private:
    void Mount(sdbus::Result<>&& result, Options options) override {
        requireOwner(getObject());
        PendingReply<> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            requireNoOptions(options);
            manager_.mount(name_, [reply](const std::optional<ManagerError>& error) {
                reply.complete(error);
            });
        });
    }

    void Unmount(sdbus::Result<>&& result, Options options) override {
        requireOwner(getObject());
        PendingReply<> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            manager_.unmount(
                name_, parseUnmountOptions(options),
                [reply](const std::optional<ManagerError>& error) { reply.complete(error); });
        });
    }

    void Prefetch(sdbus::Result<uint64_t>&& result, std::vector<std::string> paths,
                  Options options) override {
        requireOwner(getObject());
        PendingReply<uint64_t> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            requireNoOptions(options);
            for (const auto& path : paths) {
                if (path.starts_with('/')) {
                    throw invalidArgs("path '" + path + "' must be relative to the mount root");
                }
            }
            manager_.prefetch(name_, std::move(paths),
                              [reply](const std::optional<ManagerError>& error, uint64_t count) {
                                  reply.complete(error, count);
                              });
        });
    }

    void Changes(sdbus::Result<std::vector<ChangeRow>>&& result, std::vector<std::string> paths,
                 Options options) override {
        requireOwner(getObject());
        PendingReply<std::vector<ChangeRow>> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            requireNoOptions(options);
            paths = pathsFromBus(std::move(paths));
            manager_.listChanges(name_, std::move(paths),
                                 [reply](const std::optional<ManagerError>& error,
                                         const std::vector<changes::Change>& list) {
                                     reply.complete(error, changeRows(list));
                                 });
        });
    }

    void Diff(sdbus::Result<std::string>&& result, std::vector<std::string> paths) override {
        requireOwner(getObject());
        PendingReply<std::string> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            paths = pathsFromBus(std::move(paths));
            manager_.diff(
                name_, std::move(paths),
                [reply](const std::optional<ManagerError>& error, const std::string& text) {
                    if (auto notUtf8 = error ? std::nullopt : diffNotUtf8(text)) {
                        reply.complete(notUtf8, "");
                        return;
                    }
                    reply.complete(error, text);
                });
        });
    }

    void Reset(sdbus::Result<uint32_t>&& result, std::vector<std::string> paths) override {
        requireOwner(getObject());
        PendingReply<uint32_t> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            paths = pathsFromBus(std::move(paths));
            manager_.reset(name_, std::move(paths),
                           [reply](const std::optional<ManagerError>& error, uint64_t count) {
                               reply.complete(error, static_cast<uint32_t>(count));
                           });
        });
    }

    void Commit(sdbus::Result<std::string>&& result, std::string message,
                Options options) override {
        requireOwner(getObject());
        PendingReply<std::string> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            changes::CommitRequest request;
            request.author = parseCommitOptions(options);
            if (message.find_first_not_of(" \t\r\n") == std::string::npos) {
                throw invalidArgs("the commit message must not be empty");
            }
            request.message = std::move(message);
            manager_.commit(name_, std::move(request),
                            [reply](const std::optional<ManagerError>& error,
                                    const std::string& id) { reply.complete(error, id); });
        });
    }

    void Push(sdbus::Result<std::string>&& result, std::string ref) override {
        requireOwner(getObject());
        PendingReply<std::string> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            manager_.push(name_, std::move(ref),
                          [reply](const std::optional<ManagerError>& error,
                                  const changes::PushResult& pushed) {
                              reply.complete(error, escapeNonUtf8(pushed.serverMessage));
                          });
        });
    }

    void Checkout(sdbus::Result<std::string>&& result, std::string revision,
                  Options options) override {
        requireOwner(getObject());
        PendingReply<std::string> reply(std::move(result), hooks_.post);
        guardAsync(reply.result(), [&] {
            const bool force = parseCheckoutOptions(options);
            if (revision.empty()) {
                throw invalidArgs("revision must not be empty");
            }
            manager_.checkout(name_, std::move(revision), force,
                              [reply](const std::optional<ManagerError>& error,
                                      const std::string& id) { reply.complete(error, id); });
        });
    }

    std::string Name() override { return name_; }
    // The config loader refuses text that is not UTF-8 and AddMount's arguments are UTF-8, so
    // these are escaped only in case; LastError may quote any path.
    std::string Source() override { return escapeNonUtf8(info_.config.source.describe()); }
    std::string Revision() override { return escapeNonUtf8(info_.config.revision); }
    std::string CommitId() override { return info_.commitId; }
    std::string SubPath() override { return escapeNonUtf8(info_.config.subPath); }
    std::string MountPoint() override { return escapeNonUtf8(info_.config.mountpoint.string()); }
    bool Writable() override { return info_.config.writable; }
    bool Automount() override { return info_.config.automount; }
    bool Configured() override { return info_.configured; }
    std::string State() override { return manager::toString(info_.state); }
    std::string LastError() override { return escapeNonUtf8(info_.lastError); }
    // Counters change on every fetch: read live, announced by no signal (the contract says so).
    uint64_t ObjectsFetched() override { return liveStats().objectsFetched; }
    uint64_t BytesFetched() override { return liveStats().bytesFetched; }
    uint64_t CacheHits() override { return liveStats().cacheHits; }
    uint64_t CacheMisses() override { return liveStats().cacheMisses; }

    manager::MountStats liveStats() {
        return guardSync([&] {
            try {
                return manager_.info(name_).stats;
            } catch (const ManagerError&) {
                return manager::MountStats{};  // being removed: its object goes next
            }
        });
    }

    manager::MountManager& manager_;
    const ServiceHooks& hooks_;
    const std::string name_;
    manager::MountInfo info_;  // as last announced; main thread only
};

DbusService::DbusService(sdbus::IConnection& connection, manager::MountManager& manager,
                         ServiceHooks hooks)
    : connection_(connection),
      manager_(manager),
      hooks_(std::move(hooks)),
      alive_(std::make_shared<DbusService*>(this)),
      root_(std::make_unique<ManagerObject>(connection_, manager_, hooks_)) {}

DbusService::~DbusService() {
    mounts_.clear();
    root_.reset();
}

void DbusService::mountAdded(const manager::MountInfo& info) {
    std::weak_ptr<DbusService*> alive = alive_;
    hooks_.post([alive, info] {
        if (auto self = alive.lock()) {
            (*self)->addObject(info);
        }
    });
}

void DbusService::mountRemoved(const std::string& name) {
    std::weak_ptr<DbusService*> alive = alive_;
    hooks_.post([alive, name] {
        if (auto self = alive.lock()) {
            (*self)->removeObject(name);
        }
    });
}

void DbusService::mountChanged(const manager::MountInfo& info) {
    std::weak_ptr<DbusService*> alive = alive_;
    hooks_.post([alive, info] {
        if (auto self = alive.lock()) {
            (*self)->updateObject(info);
        }
    });
}

void DbusService::progress(const std::string& name, const std::string& operation, uint64_t done,
                           uint64_t total) {
    std::weak_ptr<DbusService*> alive = alive_;
    hooks_.post([alive, name, operation, done, total] {
        auto self = alive.lock();
        if (!self) {
            return;
        }
        auto it = (*self)->mounts_.find(name);
        if (it == (*self)->mounts_.end()) {
            return;
        }
        try {
            it->second->emitProgress(operation, done, total);
        } catch (const std::exception& e) {
            spdlog::warn("D-Bus: Progress for '{}': {}", name, e.what());
        }
    });
}

void DbusService::addObject(const manager::MountInfo& info) {
    try {
        mounts_.erase(info.config.name);
        mounts_[info.config.name] =
            std::make_unique<MountObject>(connection_, manager_, hooks_, info);
    } catch (const std::exception& e) {
        spdlog::error("D-Bus: cannot publish mount '{}': {}", info.config.name, e.what());
    }
}

void DbusService::removeObject(const std::string& name) {
    mounts_.erase(name);
}

void DbusService::updateObject(const manager::MountInfo& info) {
    auto it = mounts_.find(info.config.name);
    if (it == mounts_.end()) {
        return;
    }
    try {
        it->second->update(info);
    } catch (const std::exception& e) {
        spdlog::warn("D-Bus: PropertiesChanged for '{}': {}", info.config.name, e.what());
    }
}

}  // namespace megafuse::dbus
