// MountManager: owns every mount of the daemon — configured and ad hoc — and its state machine
// (unmounted → mounting → mounted → unmounting → unmounted | failed), applies config reloads,
// remembers what was mounted across restarts. Knows nothing of D-Bus; events go to a listener.
//
// Threading model
// ---------------
// - Callers (the service's main thread: D-Bus handlers, signals) call the public methods. Every
//   public method returns quickly: it checks what can be known at once under mutex_ (and throws
//   ManagerError for it), moves the state to mounting/unmounting, and queues the slow part.
// - Slow parts (clone, mount, unmount, prefetch, and a writable mount's change-set operations)
//   run on the WorkerPool (worker_threads threads).
//   Operations on one mount are serialized by its strand (Record::pending, run one at a time),
//   so a reload's "unmount, then mount again" and a user's request never interleave; different
//   mounts proceed in parallel and one failing mount never touches another.
// - mutex_ guards the mount table and every Record field. It is never held across a blocking
//   call (a mount, unmount, subprocess or disk write); ActiveMounts are destroyed outside it.
// - The listener is called with mutex_ held, from whichever thread changed the state, so events
//   arrive in the order the states changed. It must only queue (no blocking, no calls back into
//   the manager).
// - Completion callbacks (Done) are called on a worker thread without any lock held.
// Lock order: mutex_ → (listener's own queue lock); stateFileMutex_ is taken alone, never with
// mutex_ held; WorkerPool's lock is a leaf.
//
// Ownership: the manager owns the MountBackend (which owns the StoreRegistry: one store per
// source, shared by that source's mounts), each mount's ActiveMount (its FUSE session), and the
// sessions detached lazily that still serve open files (draining_) until they end.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "changes/ChangeSet.hpp"
#include "config/Config.hpp"
#include "manager/ManagerError.hpp"
#include "manager/MountBackend.hpp"
#include "manager/StateFile.hpp"
#include "manager/WorkerPool.hpp"

namespace megafuse::manager {

enum class MountState { Unmounted, Mounting, Mounted, Unmounting, Failed };

// "unmounted" | "mounting" | "mounted" | "unmounting" | "failed": the D-Bus State values.
const char* toString(MountState state);

// Bounds of the manager. The service fills them from the config (docs/config.md).
struct ManagerOptions {
    // Threads running clones, mounts, unmounts and prefetches at once (worker_threads, 1..64).
    size_t workerThreads = 4;
    // Operations waiting for a worker beyond the one per mount a strand may queue
    // (max_queued_operations): a Prefetch beyond it fails with Busy at once.
    size_t maxQueuedOperations = 64;
    // Mounts the daemon holds, configured + ad hoc (max_mounts): AddMount beyond it fails.
    size_t maxMounts = 256;
    // Where the "was mounted" state lives: <state_dir>/mounts.yaml. Empty: not persisted.
    std::filesystem::path stateFile;
    // Progress events per mount per second, at most (the D-Bus contract says ~10).
    unsigned maxProgressPerSecond = 10;

    // The bounds above as the configuration sets them, the state file under state_dir.
    static ManagerOptions fromConfig(const config::GlobalSettings& global);
};

// A copy of one mount's state, for listings, properties and events.
struct MountInfo {
    config::MountConfig config;
    bool configured = false;  // from the config file, not ad hoc
    MountState state = MountState::Unmounted;
    std::string lastError;  // "" when none
    std::string commitId;   // "" until mounted
    MountStats stats;
};

struct UnmountOptions {
    bool force = false;  // abort the FUSE connection even if busy, then detach
    bool lazy = false;   // detach now; the session ends when the last user leaves
};

// An ad-hoc mount as a client asks for it; validated like a mount of the config file.
struct MountSpec {
    std::string name;
    std::string source;
    std::string mountpoint;
    std::optional<std::string> revision;
    std::optional<std::string> subPath;
    bool writable = false;
    bool mountNow = true;
};

class ManagerListener {
public:
    virtual ~ManagerListener() = default;
    // All called with the manager's lock held (see the threading model): queue and return.
    virtual void mountAdded(const MountInfo& info) = 0;
    virtual void mountRemoved(const std::string& name) = 0;
    virtual void mountChanged(const MountInfo& info) = 0;
    virtual void progress(const std::string& name, const std::string& operation, uint64_t done,
                          uint64_t total) = 0;
};

// What a reload did, for the log and the service's STATUS.
struct ReloadSummary {
    config::ConfigDiff diff;
    size_t remounted = 0;  // changed mounts whose FUSE session is replaced
};

class MountManager {
public:
    // An error for the async parts: nullopt on success.
    using Done = std::function<void(const std::optional<ManagerError>& error)>;
    using PrefetchDone =
        std::function<void(const std::optional<ManagerError>& error, uint64_t objectsFetched)>;

    MountManager(std::unique_ptr<MountBackend> backend, ManagerOptions options);
    // Aborts whatever is still mounted (call shutdown() first for an orderly stop).
    ~MountManager();
    MountManager(const MountManager&) = delete;
    MountManager& operator=(const MountManager&) = delete;

    // Set once, before start(); the listener must outlive the manager's last event.
    void setListener(ManagerListener* listener);

    // Takes the configuration: adds the configured mounts, clears stale mountpoints of mounts the
    // last run had mounted, and mounts every automount one and every one that was mounted when
    // the daemon last ran. allMountsSettled is called (on a worker thread, or at once) when every
    // one of those mounts has succeeded or failed.
    void start(const config::Config& config, std::function<void()> allMountsSettled);

    // Applies the difference to the running configuration: added mounts appear (and mount if
    // automount), removed ones are unmounted (lazily when busy) and forgotten, changed ones are
    // remounted (updated in place when only automount changed), unchanged ones are untouched.
    // Throws InvalidConfig when the new config clashes with an ad-hoc mount (nothing applied).
    ReloadSummary reload(const config::Config& config);

    // Mount/unmount one mount. Throws at once NotFound, AlreadyMounted (mounted or mounting),
    // NotMounted, Busy (another operation on it is running); the rest reaches done: MountFailed,
    // Timeout, Busy (in use: retry with lazy or force).
    void mount(const std::string& name, Done done);
    void unmount(const std::string& name, UnmountOptions options, Done done);

    // Adds an ad-hoc mount; returns its name. InvalidArgs (with the reason) for a bad name,
    // source, revision, a mountpoint that is relative, missing, not a directory, mounted, or
    // used by another mount, a name taken, or max_mounts reached. With mountNow, done reports
    // the mount (the mount stays defined, state failed, when it fails); else done is called at
    // once.
    std::string addMount(const MountSpec& spec, Done done);
    // Unmounts (if mounted) and forgets an ad-hoc mount. InvalidArgs for a configured mount.
    void removeMount(const std::string& name, UnmountOptions options, Done done);

    // Fetches the blobs under paths of a mounted mount. NotMounted at once when not mounted;
    // Busy when max_queued_operations are waiting.
    void prefetch(const std::string& name, std::vector<std::string> paths, PrefetchDone done);

    // --- the edits of a writable mount, each on the mount's strand (after whatever operation is
    // queued before it). Throw at once NotFound, NotWritable (read-only or not mounted), Busy;
    // the rest reaches done: Conflict, NothingToCommit, PushRejected, InvalidArgs (unknown
    // revision, bad path), Failed. Paths are relative to the mount root; empty = everything.
    template <typename T>
    using ResultDone = std::function<void(const std::optional<ManagerError>& error, T value)>;
    void listChanges(const std::string& name, std::vector<std::string> paths,
                     const ResultDone<std::vector<changes::Change>>& done);
    void diff(const std::string& name, std::vector<std::string> paths,
              const ResultDone<std::string>& done);
    void reset(const std::string& name, std::vector<std::string> paths,
               const ResultDone<uint64_t>& done);
    // done gets the new commit id; CommitId changes (mountChanged).
    void commit(const std::string& name, changes::CommitRequest request,
                const ResultDone<std::string>& done);
    // done gets the server's message.
    void push(const std::string& name, std::string remoteRef,
              const ResultDone<changes::PushResult>& done);
    // done gets the commit now shown; CommitId changes (mountChanged).
    void checkout(const std::string& name, std::string revision, bool force,
                  const ResultDone<std::string>& done);

    [[nodiscard]] std::vector<MountInfo> list() const;
    // Throws NotFound.
    [[nodiscard]] MountInfo info(const std::string& name) const;
    [[nodiscard]] bool contains(const std::string& name) const;
    // A mount by name, by mountpoint, or by any absolute path below a mountpoint. NotFound.
    [[nodiscard]] std::string resolve(const std::string& nameOrPath) const;
    // The configuration last applied.
    [[nodiscard]] config::Config currentConfig() const;

    // Notices sessions that ended outside the daemon (an external `fusermount3 -u`, an aborted
    // connection) or that report a fault (ActiveMount::fault, into LastError), and ends lazily
    // detached sessions whose last user left. Cheap; the service
    // calls it every few seconds.
    void checkSessions();

    // Stops: refuses new operations, unmounts every mount (normal, then lazy, then abort) without
    // touching the persisted state, so the next start brings them back. Returns false when some
    // worker was still busy (a clone) at the deadline.
    bool shutdown(std::chrono::milliseconds bound);

    // Number of mounts per state, for the service's STATUS line.
    [[nodiscard]] std::map<MountState, size_t> countByState() const;

private:
    struct Record;
    using RecordPtr = std::shared_ptr<Record>;

    RecordPtr findLocked(const std::string& name) const;
    RecordPtr requireLocked(const std::string& name) const;
    MountInfo infoLocked(const Record& record) const;
    void notifyChangedLocked(const Record& record);
    void setStateLocked(Record& record, MountState state);
    RecordPtr addRecordLocked(const config::MountConfig& config, bool configured);
    void removeRecordLocked(const RecordPtr& record);
    // Mountpoint clash with another mount (same, inside, containing): the reason, or nullopt.
    std::optional<std::string> mountpointClashLocked(const std::filesystem::path& mountpoint,
                                                     const std::string& exceptName) const;

    // Strands: one operation at a time per mount, run on the pool.
    void enqueueLocked(const RecordPtr& record, std::function<void()> operation);
    void runStrand(const RecordPtr& record);

    // The slow parts, on a worker with the strand held. They set states and report by return.
    std::optional<ManagerError> doMount(const RecordPtr& record);
    std::optional<ManagerError> doUnmount(const RecordPtr& record, UnmountOptions options,
                                          bool fallBackToLazy);
    void releaseSession(std::shared_ptr<ActiveMount> session, bool connectionEnded);
    ProgressFn progressFor(const RecordPtr& record);

    // Queues op on the strand of a mounted writable mount; op's ChangeSetError (or any other
    // exception) reaches fail as a ManagerError. Throws at once as the public methods say.
    void enqueueChangeOperation(const std::string& name, const char* what,
                                std::function<void(changes::ChangeSet&)> op,
                                std::function<void(const ManagerError&)> fail);
    // After a commit or checkout moved the base: CommitId shows it (only if session still runs).
    void baseMoved(const RecordPtr& record, const std::shared_ptr<ActiveMount>& session,
                   const std::string& commitId);

    // Desired-state persistence ("was mounted").
    void markWanted(const RecordPtr& record, bool wanted);
    void saveStateFile();

    std::unique_ptr<MountBackend> backend_;
    const ManagerOptions options_;
    StateFile stateFile_;

    mutable std::mutex mutex_;      // see the threading model; before the listener's lock
    std::condition_variable idle_;  // signalled when a strand goes idle (shutdown waits on it)
    ManagerListener* listener_ = nullptr;
    std::map<std::string, RecordPtr> mounts_;
    config::Config config_;
    bool stopping_ = false;
    size_t prefetchesQueued_ = 0;
    StateFile::Entries wanted_;  // name → mountpoint that should be mounted after a restart
    uint64_t wantedVersion_ = 0;
    std::vector<std::shared_ptr<ActiveMount>> draining_;  // detached lazily, still in use

    std::mutex stateFileMutex_;  // serializes saves; taken alone
    uint64_t savedVersion_ = 0;  // guarded by stateFileMutex_

    // Last member: its threads join first on destruction, while the rest is still alive.
    WorkerPool pool_;
};

}  // namespace megafuse::manager
