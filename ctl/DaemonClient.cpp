// DaemonClient: sdbus-c++ proxies generated from the contract, on a connection that megactl
// drives itself (poll + processPendingRequest) so progress signals need no second thread.
#include "DaemonClient.hpp"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-bus.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <system_error>
#include <utility>

#include "CtlError.hpp"
#include "MegaFuse1Proxy.hpp"

namespace megafuse::ctl {
namespace {

using Dictionary = std::map<std::string, sdbus::Variant>;
using ManagedObjects = std::map<sdbus::ObjectPath, std::map<std::string, Dictionary>>;

constexpr const char* kManagerInterface = com::gitmega::MegaFuse1::Manager_proxy::INTERFACE_NAME;
constexpr const char* kMountInterface = com::gitmega::MegaFuse1::Mount_proxy::INTERFACE_NAME;

Dictionary unmountOptions(UnmountMode mode) {
    Dictionary options;
    if (mode == UnmountMode::Force) {
        options["force"] = sdbus::Variant(true);
    } else if (mode == UnmountMode::Lazy) {
        options["lazy"] = sdbus::Variant(true);
    }
    return options;
}

// Holds a long call's outcome until waitForReply returns to the caller's stack.
struct PendingReply {
    bool replied = false;
    std::optional<sdbus::Error> error;

    void complete(const sdbus::Error* failure) {
        if (failure != nullptr) {
            error = *failure;
        }
        replied = true;
    }
    void throwIfFailed() const {
        if (error) {
            throw sdbus::Error(*error);
        }
    }
};

}  // namespace

class DaemonClient::ManagerProxy final
    : public sdbus::ProxyInterfaces<com::gitmega::MegaFuse1::Manager_proxy,
                                    sdbus::ObjectManager_proxy> {
public:
    explicit ManagerProxy(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, kBusName, kManagerPath) {
        registerProxy();
    }
    ~ManagerProxy() { unregisterProxy(); }
    ManagerProxy(const ManagerProxy&) = delete;
    ManagerProxy& operator=(const ManagerProxy&) = delete;

    // The raw proxy, for calls that need a timeout or a reply callback (the generated methods
    // offer neither).
    sdbus::IProxy& raw() { return getProxy(); }

private:
    // megactl reads the list once per command; it does not follow additions.
    void onInterfacesAdded(const sdbus::ObjectPath& /*path*/,
                           const std::map<std::string, Dictionary>& /*interfaces*/) override {}
    void onInterfacesRemoved(const sdbus::ObjectPath& /*path*/,
                             const std::vector<std::string>& /*interfaces*/) override {}
};

class DaemonClient::MountProxy final
    : public sdbus::ProxyInterfaces<com::gitmega::MegaFuse1::Mount_proxy, sdbus::Properties_proxy> {
public:
    MountProxy(sdbus::IConnection& connection, const std::string& objectPath,
               ProgressHandler onProgress)
        : ProxyInterfaces(connection, kBusName, objectPath), onProgress_(std::move(onProgress)) {
        registerProxy();
    }
    ~MountProxy() { unregisterProxy(); }
    MountProxy(const MountProxy&) = delete;
    MountProxy& operator=(const MountProxy&) = delete;

    sdbus::IProxy& raw() { return getProxy(); }

private:
    void onProgress(const std::string& operation, const uint64_t& done,
                    const uint64_t& total) override {
        if (onProgress_) {
            onProgress_(ProgressEvent{operation, done, total});
        }
    }
    void onPropertiesChanged(const std::string& interfaceName, const Dictionary& changed,
                             const std::vector<std::string>& /*invalidated*/) override {
        if (!onProgress_ || interfaceName != kMountInterface) {
            return;
        }
        if (const auto it = changed.find("State");
            it != changed.end() && it->second.containsValueOfType<std::string>()) {
            onProgress_(ProgressEvent{it->second.get<std::string>(), 0, 0});
        }
    }

    ProgressHandler onProgress_;
};

DaemonClient::DaemonClient(CallTimeouts timeouts) : timeouts_(timeouts) {
    try {
        connection_ = sdbus::createSessionBusConnection();
    } catch (const sdbus::Error& error) {
        throw CtlError(ExitCode::DaemonUnreachable,
                       "cannot connect to the session bus (" + error.getMessage() +
                           "): mega-fused serves the user's session bus; run megactl in the "
                           "login session or set DBUS_SESSION_BUS_ADDRESS");
    }
    connection_->setMethodCallTimeout(timeouts_.quick);
    activateIfAbsent();
    manager_ = std::make_unique<ManagerProxy>(*connection_);
}

DaemonClient::~DaemonClient() = default;

std::string DaemonClient::daemonVersion() {
    return manager_->Version();
}

std::string DaemonClient::configPath() {
    return manager_->ConfigPath();
}

std::vector<MountInfo> DaemonClient::listMounts() {
    // One typed reply; a daemon older than ListMounts answers UnknownMethod (a package upgrade
    // with the old daemon still running): then the generic ObjectManager listing.
    try {
        std::vector<MountInfo> mounts;
        for (const auto& row : manager_->ListMounts()) {
            MountInfo info;
            info.objectPath = row.get<0>();
            info.name = row.get<1>();
            info.source = row.get<2>();
            info.revision = row.get<3>();
            info.commitId = row.get<4>();
            info.subPath = row.get<5>();
            info.mountPoint = row.get<6>();
            info.writable = row.get<7>();
            info.automount = row.get<8>();
            info.configured = row.get<9>();
            info.state = row.get<10>();
            info.lastError = row.get<11>();
            info.objectsFetched = row.get<12>();
            info.bytesFetched = row.get<13>();
            info.cacheHits = row.get<14>();
            info.cacheMisses = row.get<15>();
            mounts.push_back(std::move(info));
        }
        return mounts;
    } catch (const sdbus::Error& e) {
        if (e.getName() != "org.freedesktop.DBus.Error.UnknownMethod") {
            throw;
        }
    }
    const ManagedObjects objects = manager_->GetManagedObjects();
    std::vector<MountInfo> mounts;
    for (const auto& [path, interfaces] : objects) {
        if (const auto it = interfaces.find(kMountInterface); it != interfaces.end()) {
            mounts.push_back(MountInfo::fromProperties(path, it->second));
        }
    }
    std::sort(mounts.begin(), mounts.end(),
              [](const MountInfo& a, const MountInfo& b) { return a.name < b.name; });
    return mounts;
}

std::string DaemonClient::resolveMount(const std::string& nameOrPath) {
    return manager_->ResolveMount(nameOrPath);
}

MountInfo DaemonClient::mountInfo(const std::string& objectPath) {
    MountProxy proxy(*connection_, objectPath, nullptr);
    return MountInfo::fromProperties(objectPath, proxy.GetAll(kMountInterface));
}

std::string DaemonClient::addMount(const AddMountSpec& spec, const ProgressHandler& onProgress) {
    Dictionary dictionary{
        {"name", sdbus::Variant(spec.name)},
        {"source", sdbus::Variant(spec.source)},
        {"mountpoint", sdbus::Variant(spec.mountPoint)},
        {"writable", sdbus::Variant(spec.writable)},
        {"mount", sdbus::Variant(true)},
    };
    if (spec.revision) {
        dictionary["revision"] = sdbus::Variant(*spec.revision);
    }
    if (spec.subPath) {
        dictionary["path"] = sdbus::Variant(*spec.subPath);
    }
    // Subscribed before the call: the clone's first signals come before AddMount's reply.
    MountProxy progress(*connection_, mountObjectPath(spec.name), onProgress);
    PendingReply pending;
    sdbus::ObjectPath result;
    manager_->raw()
        .callMethodAsync("AddMount")
        .onInterface(kManagerInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(dictionary)
        .uponReplyInvoke([&](const sdbus::Error* error, sdbus::ObjectPath path) {
            result = std::move(path);
            pending.complete(error);
        });
    waitForReply(pending.replied);
    pending.throwIfFailed();
    return result;
}

void DaemonClient::mount(const std::string& objectPath, const ProgressHandler& onProgress) {
    MountProxy proxy(*connection_, objectPath, onProgress);
    PendingReply pending;
    proxy.raw()
        .callMethodAsync("Mount")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(Dictionary{})
        .uponReplyInvoke([&](const sdbus::Error* error) { pending.complete(error); });
    waitForReply(pending.replied);
    pending.throwIfFailed();
}

void DaemonClient::unmount(const std::string& objectPath, UnmountMode mode) {
    MountProxy proxy(*connection_, objectPath, nullptr);
    proxy.raw()
        .callMethod("Unmount")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(unmountOptions(mode));
}

void DaemonClient::removeMount(const std::string& name, UnmountMode mode) {
    manager_->raw()
        .callMethod("RemoveMount")
        .onInterface(kManagerInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(name, unmountOptions(mode));
}

void DaemonClient::reload() {
    // Reload remounts changed mounts, which can mean a clone: a slow call.
    manager_->raw().callMethod("Reload").onInterface(kManagerInterface).withTimeout(timeouts_.slow);
}

std::vector<std::string> DaemonClient::restartPending() {
    try {
        return manager_->RestartPending();
    } catch (const sdbus::Error&) {
        return {};  // a daemon from before the property: nothing it could report
    }
}

uint64_t DaemonClient::prefetch(const std::string& objectPath,
                                const std::vector<std::string>& paths,
                                const ProgressHandler& onProgress) {
    MountProxy proxy(*connection_, objectPath, onProgress);
    PendingReply pending;
    uint64_t fetched = 0;
    proxy.raw()
        .callMethodAsync("Prefetch")
        .onInterface(kMountInterface)
        .withTimeout(timeouts_.slow)
        .withArguments(paths, Dictionary{})
        .uponReplyInvoke([&](const sdbus::Error* error, uint64_t objects) {
            fetched = objects;
            pending.complete(error);
        });
    waitForReply(pending.replied);
    pending.throwIfFailed();
    return fetched;
}

namespace {

constexpr const char* kDbusName = "org.freedesktop.DBus";
constexpr const char* kSystemdName = "org.freedesktop.systemd1";
constexpr const char* kUnitName = "mega-fuse.service";

// What the user manager says about mega-fuse.service; empty fields when there is no systemd
// on this bus (a session bus that activates by Exec=) or the unit is unknown.
struct UnitState {
    std::string activeState;
    std::vector<uint8_t> invocationId;
};

UnitState unitState(sdbus::IConnection& connection) {
    UnitState state;
    try {
        auto manager = sdbus::createProxy(connection, kSystemdName, "/org/freedesktop/systemd1");
        sdbus::ObjectPath unitPath;
        manager->callMethod("GetUnit")
            .onInterface("org.freedesktop.systemd1.Manager")
            .withArguments(std::string(kUnitName))
            .storeResultsTo(unitPath);
        auto unit = sdbus::createProxy(connection, kSystemdName, unitPath);
        constexpr const char* kUnitInterface = "org.freedesktop.systemd1.Unit";
        // Two calls, so the unit may change between them. InvocationID first: a start job
        // that runs in between then pairs the old id with "activating", never a new id with
        // the "inactive" of before the start, which looked like a new run that had already
        // ended (a CI run of SystemdUserService under ASan failed so, in 0.7 s).
        state.invocationId = unit->getProperty("InvocationID")
                                 .onInterface(kUnitInterface)
                                 .get<std::vector<uint8_t>>();
        state.activeState =
            unit->getProperty("ActiveState").onInterface(kUnitInterface).get<std::string>();
    } catch (const sdbus::Error&) {
        // Not loaded yet, or no systemd: nothing to say.
    }
    return state;
}

std::string activationFailed(const std::string& why) {
    return "mega-fused could not be started by D-Bus activation (" + why +
           "): see `systemctl --user status mega-fuse` and `journalctl --user -u mega-fuse`";
}

}  // namespace

// dbus-daemon alone would wait for the name for its service_start_timeout (2 minutes): systemd
// 252 does not tell it when the unit's start job fails. So while StartServiceByName is pending,
// megactl watches the unit and gives up as soon as a new run of it has failed (or it has been
// down for a while: a start limit creates no new run).
void DaemonClient::activateIfAbsent() {
    using Clock = std::chrono::steady_clock;
    auto bus = sdbus::createProxy(*connection_, kDbusName, "/org/freedesktop/DBus");
    bool owned = false;
    bus->callMethod("NameHasOwner")
        .onInterface(kDbusName)
        .withArguments(std::string(kBusName))
        .storeResultsTo(owned);
    if (owned) {
        return;
    }
    const UnitState before = unitState(*connection_);
    PendingReply pending;
    bus->callMethodAsync("StartServiceByName")
        .onInterface(kDbusName)
        .withTimeout(timeouts_.quick)
        .withArguments(std::string(kBusName), uint32_t{0})
        .uponReplyInvoke(
            [&](const sdbus::Error* error, uint32_t /*result*/) { pending.complete(error); });
    constexpr std::chrono::milliseconds kTick{200};
    constexpr std::chrono::seconds kDownGrace{3};
    const auto started = Clock::now();
    while (!pending.replied) {
        dispatchFor(kTick);
        if (pending.replied) {
            break;
        }
        const UnitState now = unitState(*connection_);
        const bool down = now.activeState == "failed" || now.activeState == "inactive";
        if (down &&
            (now.invocationId != before.invocationId || Clock::now() - started > kDownGrace)) {
            throw CtlError(ExitCode::DaemonUnreachable,
                           activationFailed("mega-fuse.service is " + now.activeState));
        }
    }
    if (pending.error) {
        const std::string& name = pending.error->getName();
        if (name == "org.freedesktop.DBus.Error.ServiceUnknown") {
            // No activation file: not installed as a service.
            throw CtlError(ExitCode::DaemonUnreachable, kDaemonNotRunning);
        }
        throw CtlError(ExitCode::DaemonUnreachable, activationFailed(pending.error->getMessage()));
    }
}

void DaemonClient::dispatchFor(std::chrono::milliseconds bound) {
    if (connection_->processPendingRequest()) {
        return;
    }
    const auto pollData = connection_->getEventLoopPollData();
    struct pollfd descriptor {
        pollData.fd, pollData.events, 0
    };
    int timeout = static_cast<int>(bound.count());
    if (const int busTimeout = pollData.getPollTimeout(); busTimeout >= 0) {
        timeout = std::min(timeout, busTimeout);
    }
    if (::poll(&descriptor, 1, timeout) < 0 && errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "poll on the session bus");
    }
    connection_->processPendingRequest();
}

void DaemonClient::waitForReply(const bool& replied) {
    // The call's own timeout is part of sd-bus's poll deadline, so this ends either way.
    while (!replied) {
        if (connection_->processPendingRequest()) {
            continue;
        }
        const auto pollData = connection_->getEventLoopPollData();
        struct pollfd descriptor {
            pollData.fd, pollData.events, 0
        };
        if (::poll(&descriptor, 1, pollData.getPollTimeout()) < 0 && errno != EINTR) {
            throw std::system_error(errno, std::generic_category(), "poll on the session bus");
        }
    }
}

std::string mountObjectPath(const std::string& name) {
    char* encoded = nullptr;
    if (const int r = sd_bus_path_encode(kMountsPath, name.c_str(), &encoded); r < 0) {
        throw std::system_error(-r, std::generic_category(), "sd_bus_path_encode");
    }
    const std::unique_ptr<char, decltype(&std::free)> owner(encoded, &std::free);
    return encoded;
}

}  // namespace megafuse::ctl
