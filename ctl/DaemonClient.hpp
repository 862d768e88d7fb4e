// DaemonClient: megactl's only D-Bus code — one session-bus connection to mega-fused and one
// plain C++ method per call of the contract (dbus/com.gitmega.MegaFuse1.xml), so commands never
// see messages, variants or object paths being built.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "MountInfo.hpp"

namespace sdbus {
class IConnection;
}

namespace megafuse::ctl {

inline constexpr const char* kBusName = "com.gitmega.MegaFuse1";
inline constexpr const char* kManagerPath = "/com/gitmega/MegaFuse1";
inline constexpr const char* kMountsPath = "/com/gitmega/MegaFuse1/mounts";

// A quick call (list, status, resolve) answers at once or the daemon is stuck; a long one
// (mount with a first clone, prefetch, reload) may take minutes and is bounded by --timeout.
struct CallTimeouts {
    std::chrono::milliseconds quick{std::chrono::seconds(25)};
    std::chrono::milliseconds slow{std::chrono::minutes(10)};
};

// The fields of Manager.AddMount's spec dictionary that megactl sets.
struct AddMountSpec {
    std::string name;
    std::string source;
    std::string mountPoint;
    std::optional<std::string> revision;
    std::optional<std::string> subPath;
    bool writable = false;
};

enum class UnmountMode { Normal, Force, Lazy };

// One row of Mount.Changes: a git status letter (A M D R T), the path, where a rename came from,
// and the Git modes before and after ("" when absent).
struct ChangedPath {
    std::string status;
    std::string path;
    std::string oldPath;
    std::string oldMode;
    std::string newMode;
};

struct Author {
    std::string name;
    std::string email;
};

// What a long call reports while it runs: a Progress signal (operation "clone", "prefetch" with
// done/total units, total 0 = unknown) or a State change (operation = the new state, 0/0).
struct ProgressEvent {
    std::string operation;
    uint64_t done = 0;
    uint64_t total = 0;
};
using ProgressHandler = std::function<void(const ProgressEvent&)>;

// Not thread-safe: megactl is single-threaded, and signals are dispatched only while a long call
// waits (waitForReply), on the calling thread. Every method throws sdbus::Error as the daemon or
// the bus sent it; the caller maps it once (fromDbusError).
class DaemonClient {
public:
    // Connects to the session bus and, when mega-fused is not on it, starts it by D-Bus
    // activation (mega-fuse.service under systemd --user). Throws CtlError(DaemonUnreachable)
    // when there is no bus, no activation file, or the activated daemon fails to start.
    explicit DaemonClient(CallTimeouts timeouts);
    ~DaemonClient();
    DaemonClient(const DaemonClient&) = delete;
    DaemonClient& operator=(const DaemonClient&) = delete;

    std::string daemonVersion();
    std::string configPath();

    // Every mount the daemon knows (configured and ad hoc), sorted by name.
    std::vector<MountInfo> listMounts();
    // The object path of a mount by its name, mountpoint or a path inside it (NotFound else).
    std::string resolveMount(const std::string& nameOrPath);
    MountInfo mountInfo(const std::string& objectPath);

    // Manager.AddMount with mount=true; progress comes from the new object while it clones.
    std::string addMount(const AddMountSpec& spec, const ProgressHandler& onProgress);
    void mount(const std::string& objectPath, const ProgressHandler& onProgress);
    void unmount(const std::string& objectPath, UnmountMode mode);
    void removeMount(const std::string& name, UnmountMode mode);
    void reload();
    // Global settings changed in the file that the daemon applies only when restarted (empty
    // also for a daemon older than the RestartPending property).
    std::vector<std::string> restartPending();
    uint64_t prefetch(const std::string& objectPath, const std::vector<std::string>& paths,
                      const ProgressHandler& onProgress);

    // Writable mounts (ChangeClient.cpp): Mount.Changes, Diff, Reset, Commit, Push, Checkout,
    // each bounded by the long timeout (a commit hashes files, a push talks to a server).
    std::vector<ChangedPath> changes(const std::string& objectPath,
                                     const std::vector<std::string>& paths);
    std::string diff(const std::string& objectPath, const std::vector<std::string>& paths);
    uint32_t reset(const std::string& objectPath, const std::vector<std::string>& paths);
    std::string commit(const std::string& objectPath, const std::string& message,
                       const std::optional<Author>& author);
    std::string push(const std::string& objectPath, const std::string& ref);
    std::string checkout(const std::string& objectPath, const std::string& revision, bool force);

private:
    class ManagerProxy;
    class MountProxy;

    // Dispatches bus traffic (signals, the reply) until replied is set by a reply callback.
    void waitForReply(const bool& replied);
    // Waits at most `bound` for bus traffic and dispatches it.
    void dispatchFor(std::chrono::milliseconds bound);
    // StartServiceByName when the name has no owner; see the constructor.
    void activateIfAbsent();

    CallTimeouts timeouts_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<ManagerProxy> manager_;
};

// The object path the daemon gives a mount of this name (sd_bus_path_encode), known before
// AddMount returns so its progress can be followed from the first signal.
std::string mountObjectPath(const std::string& name);

}  // namespace megafuse::ctl
