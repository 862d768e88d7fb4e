// DbusService: the contract's objects on the bus — the Manager + ObjectManager at the root, one
// Mount object per mount — translating calls into MountManager calls and manager events into
// InterfacesAdded/Removed, PropertiesChanged and Progress. Knows nothing of FUSE.
//
// Threads: the connection and every object belong to the main thread (the service's loop): it
// runs the handlers, and it alone sends — replies of async methods and signals are posted to it
// (Post) from the manager's threads, so sd-bus is never used from two threads at once.
#pragma once

#include <sdbus-c++/IConnection.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "manager/MountManager.hpp"

namespace megafuse::dbus {

class ManagerObject;
class MountObject;

struct ServiceHooks {
    // Queues a task for the main thread; callable from any thread, never blocks long.
    std::function<void(std::function<void()>)> post;
    // Re-reads the configuration and applies it; throws ManagerError (InvalidConfig, ...).
    std::function<void()> reload;
    // What ConfigPath shows: the file, or "<built-in default>".
    std::function<std::string()> configPath;
    // What RestartPending shows: global keys changed since start that wait for a restart.
    std::function<std::vector<std::string>()> restartPending;
};

class DbusService final : public manager::ManagerListener {
public:
    // Registers the root object (Manager + ObjectManager). Objects for mounts appear as the
    // manager announces them: register this as the manager's listener before manager.start().
    DbusService(sdbus::IConnection& connection, manager::MountManager& manager, ServiceHooks hooks);
    ~DbusService() override;
    DbusService(const DbusService&) = delete;
    DbusService& operator=(const DbusService&) = delete;

    // ManagerListener (any thread, manager lock held): each posts to the main thread.
    void mountAdded(const manager::MountInfo& info) override;
    void mountRemoved(const std::string& name) override;
    void mountChanged(const manager::MountInfo& info) override;
    void progress(const std::string& name, const std::string& operation, uint64_t done,
                  uint64_t total) override;

private:
    // Main thread only.
    void addObject(const manager::MountInfo& info);
    void removeObject(const std::string& name);
    void updateObject(const manager::MountInfo& info);

    sdbus::IConnection& connection_;
    manager::MountManager& manager_;
    ServiceHooks hooks_;
    // Posted tasks hold this weakly: a task that runs after destruction does nothing.
    std::shared_ptr<DbusService*> alive_;
    std::unique_ptr<ManagerObject> root_;
    std::map<std::string, std::unique_ptr<MountObject>> mounts_;  // main thread only
};

}  // namespace megafuse::dbus
