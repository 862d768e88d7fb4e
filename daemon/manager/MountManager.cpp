// MountManager: the state machine of every mount, strands on the worker pool, reload, restart
// state. The threading model is at the top of the header.
#include "manager/MountManager.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <utility>

#include "common/Log.hpp"
#include "config/ConfigError.hpp"
#include "config/ConfigLoader.hpp"
#include "manager/Mountpoints.hpp"

namespace megafuse::manager {
namespace {

namespace fs = std::filesystem;

// A lazily detached session still in use after this long is left to drain in the background.
constexpr std::chrono::milliseconds kLazyReleaseWait{300};

// True when inner is outer or lies below it (both absolute and normalized).
bool isSameOrInside(const fs::path& inner, const fs::path& outer) {
    auto [outerEnd, innerIt] =
        std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    (void)innerIt;
    return outerEnd == outer.end();
}

fs::path normalized(const fs::path& path) {
    fs::path out = path.lexically_normal();
    std::string text = out.string();
    while (text.size() > 1 && text.back() == '/') {
        text.pop_back();
    }
    return text;
}

// A change set's error → the manager's (and so the D-Bus name), mapped here once.
ManagerError fromChangeSetError(const std::string& name, const changes::ChangeSetError& e) {
    ManagerErrc code = ManagerErrc::Failed;
    switch (e.code()) {
        case changes::ChangeSetErrc::NothingToCommit:
            code = ManagerErrc::NothingToCommit;
            break;
        case changes::ChangeSetErrc::Conflict:
            code = ManagerErrc::Conflict;
            break;
        case changes::ChangeSetErrc::PushRejected:
            code = ManagerErrc::PushRejected;
            break;
        case changes::ChangeSetErrc::NotFound:
            code = ManagerErrc::InvalidArgs;  // an unknown revision or path the client gave
            break;
        case changes::ChangeSetErrc::Unsupported:
        case changes::ChangeSetErrc::Failed:
            code = ManagerErrc::Failed;
            break;
    }
    return {code, "mount '" + name + "': " + e.what()};
}

// The fields whose change needs a new FUSE session (all but automount).
bool needsRemount(const config::MountConfig& before, const config::MountConfig& after) {
    config::MountConfig a = before;
    a.automount = after.automount;
    return !(a == after);
}

// A client's mount spec → a MountConfig validated exactly like one in config.yaml, by writing it
// as YAML and parsing it with the config loader (one validator, one set of messages).
config::MountConfig parseSpec(const MountSpec& spec) {
    auto invalid = [](const std::string& why) {
        return ManagerError(ManagerErrc::InvalidArgs, why);
    };
    if (spec.name.empty()) {
        throw invalid("name must not be empty");
    }
    if (spec.name.find('/') != std::string::npos) {
        throw invalid("name '" + spec.name + "' must not contain '/'");
    }
    if (spec.source.empty()) {
        throw invalid("source must not be empty");
    }
    if (spec.mountpoint.empty()) {
        throw invalid("mountpoint must not be empty");
    }
    if (!fs::path(spec.mountpoint).is_absolute()) {
        throw invalid("mountpoint '" + spec.mountpoint + "' must be an absolute path");
    }
    YAML::Emitter out;
    out << YAML::BeginMap << YAML::Key << "mounts" << YAML::Value << YAML::BeginSeq
        << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << spec.name;
    out << YAML::Key << "source" << YAML::Value << YAML::DoubleQuoted << spec.source;
    out << YAML::Key << "mountpoint" << YAML::Value << YAML::DoubleQuoted << spec.mountpoint;
    if (spec.revision) {
        out << YAML::Key << "revision" << YAML::Value << YAML::DoubleQuoted << *spec.revision;
    }
    if (spec.subPath) {
        out << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << *spec.subPath;
    }
    out << YAML::Key << "writable" << YAML::Value << spec.writable;
    out << YAML::Key << "automount" << YAML::Value << false;
    out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
    try {
        config::Config parsed = config::parseConfig(out.c_str(), "AddMount");
        if (parsed.mounts.size() != 1) {
            throw invalid("the mount spec did not describe one mount");
        }
        return parsed.mounts.front();
    } catch (const config::ConfigError& e) {
        std::string reasons;
        for (const auto& issue : e.issues()) {
            std::string key = issue.key;
            if (key.starts_with("mounts[0].")) {
                key = key.substr(std::string_view("mounts[0].").size());
            }
            if (!reasons.empty()) {
                reasons += "; ";
            }
            reasons += (key.empty() ? "" : key + ": ") + issue.message;
        }
        throw invalid(reasons);
    }
}

}  // namespace

const char* toString(MountState state) {
    switch (state) {
        case MountState::Unmounted:
            return "unmounted";
        case MountState::Mounting:
            return "mounting";
        case MountState::Mounted:
            return "mounted";
        case MountState::Unmounting:
            return "unmounting";
        case MountState::Failed:
            return "failed";
    }
    return "failed";
}

struct MountManager::Record {
    config::MountConfig config;
    bool configured = false;
    MountState state = MountState::Unmounted;
    std::string lastError;
    std::string commitId;
    std::shared_ptr<ActiveMount> session;  // set while mounted (and while unmounting)
    // Strand: operations waiting, and whether one runs now.
    std::deque<std::function<void()>> pending;
    bool running = false;
    bool leaving = false;  // a removal is queued: ignored by clash checks, refuses new work
    std::chrono::steady_clock::time_point lastProgress{};
};

ManagerOptions ManagerOptions::fromConfig(const config::GlobalSettings& global) {
    ManagerOptions options;
    options.workerThreads = global.workerThreads;
    options.maxQueuedOperations = global.maxQueuedOperations;
    options.maxMounts = global.maxMounts;
    options.stateFile = global.stateDir / "mounts.yaml";
    return options;
}

MountManager::MountManager(std::unique_ptr<MountBackend> backend, ManagerOptions options)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      stateFile_(options_.stateFile),
      // One strand task per mount plus the prefetches allowed to wait: submit never fails
      // inside those bounds.
      pool_(options_.workerThreads, options_.maxMounts + options_.maxQueuedOperations + 8) {}

MountManager::~MountManager() {
    bool stopped = false;
    {
        std::lock_guard lock(mutex_);
        stopped = stopping_;
    }
    if (!stopped) {
        shutdown(std::chrono::seconds(10));
    }
}

void MountManager::setListener(ManagerListener* listener) {
    std::lock_guard lock(mutex_);
    listener_ = listener;
}

// ---- table helpers (mutex_ held) ----

MountManager::RecordPtr MountManager::findLocked(const std::string& name) const {
    auto it = mounts_.find(name);
    return it == mounts_.end() ? nullptr : it->second;
}

MountManager::RecordPtr MountManager::requireLocked(const std::string& name) const {
    RecordPtr record = findLocked(name);
    if (!record) {
        throw ManagerError(ManagerErrc::NotFound, "no mount named '" + name + "'");
    }
    return record;
}

MountInfo MountManager::infoLocked(const Record& record) const {
    MountInfo info;
    info.config = record.config;
    info.configured = record.configured;
    info.state = record.state;
    info.lastError = record.lastError;
    info.commitId = record.commitId;
    if (record.session) {
        info.stats = record.session->stats();
    }
    return info;
}

void MountManager::notifyChangedLocked(const Record& record) {
    if (listener_ != nullptr) {
        listener_->mountChanged(infoLocked(record));
    }
}

void MountManager::setStateLocked(Record& record, MountState state) {
    record.state = state;
    notifyChangedLocked(record);
}

MountManager::RecordPtr MountManager::addRecordLocked(const config::MountConfig& config,
                                                      bool configured) {
    auto record = std::make_shared<Record>();
    record->config = config;
    record->configured = configured;
    mounts_[config.name] = record;
    if (listener_ != nullptr) {
        listener_->mountAdded(infoLocked(*record));
    }
    return record;
}

void MountManager::removeRecordLocked(const RecordPtr& record) {
    auto it = mounts_.find(record->config.name);
    if (it == mounts_.end() || it->second != record) {
        return;
    }
    mounts_.erase(it);
    if (listener_ != nullptr) {
        listener_->mountRemoved(record->config.name);
    }
}

std::optional<std::string> MountManager::mountpointClashLocked(
    const fs::path& mountpoint, const std::string& exceptName) const {
    for (const auto& [name, record] : mounts_) {
        if (name == exceptName || record->leaving) {
            continue;
        }
        const fs::path& other = record->config.mountpoint;
        if (other == mountpoint) {
            return "mountpoint '" + mountpoint.string() + "' is used by mount '" + name + "'";
        }
        if (isSameOrInside(mountpoint, other) || isSameOrInside(other, mountpoint)) {
            return "mountpoint '" + mountpoint.string() + "' is nested with mount '" + name +
                   "' at '" + other.string() + "'";
        }
    }
    return std::nullopt;
}

// ---- strands ----

void MountManager::enqueueLocked(const RecordPtr& record, std::function<void()> operation) {
    record->pending.push_back(std::move(operation));
    if (record->running) {
        return;
    }
    if (!pool_.submit([this, record] { runStrand(record); })) {
        record->pending.pop_back();
        throw ManagerError(ManagerErrc::Busy, "too many operations are queued; try again later");
    }
    record->running = true;
}

void MountManager::runStrand(const RecordPtr& record) {
    while (true) {
        std::function<void()> operation;
        {
            std::lock_guard lock(mutex_);
            if (record->pending.empty()) {
                record->running = false;
                idle_.notify_all();
                return;
            }
            operation = std::move(record->pending.front());
            record->pending.pop_front();
        }
        try {
            // Every line the operation logs carries MOUNT= in the journal.
            const LogScope scope(record->config.name, "");
            operation();
        } catch (const std::exception& e) {
            spdlog::error("mount '{}': operation failed: {}", record->config.name, e.what());
        }
    }
}

ProgressFn MountManager::progressFor(const RecordPtr& record) {
    return [this, record](std::string_view operation, uint64_t done, uint64_t total) {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        const auto gap =
            std::chrono::milliseconds(1000) / std::max(1U, options_.maxProgressPerSecond);
        const bool last = total != 0 && done >= total;
        if (!last && now - record->lastProgress < gap) {
            return;
        }
        record->lastProgress = now;
        if (listener_ != nullptr) {
            listener_->progress(record->config.name, std::string(operation), done, total);
        }
    };
}

// ---- the slow parts (worker threads, strand held) ----

std::optional<ManagerError> MountManager::doMount(const RecordPtr& record) {
    const LogScope scope(record->config.name, "mount");
    config::MountConfig config;
    {
        std::lock_guard lock(mutex_);
        config = record->config;
        if (record->state != MountState::Mounting) {
            record->lastError.clear();
            setStateLocked(*record, MountState::Mounting);
        }
    }
    const fs::path& mountpoint = config.mountpoint;
    std::optional<ManagerError> error;
    try {
        if (isStaleMountpoint(mountpoint)) {
            spdlog::warn("mount '{}': clearing stale FUSE mount at {}", config.name,
                         mountpoint.string());
            if (auto failed = clearStaleMountpoint(mountpoint)) {
                throw ManagerError(
                    ManagerErrc::MountFailed,
                    "cannot clear the stale mount at " + mountpoint.string() + ": " + *failed);
            }
        }
        if (auto problem = mountpointProblem(mountpoint)) {
            throw ManagerError(ManagerErrc::MountFailed, *problem);
        }
        std::shared_ptr<ActiveMount> session = backend_->mount(config, progressFor(record));
        std::lock_guard lock(mutex_);
        record->session = std::move(session);
        record->commitId = record->session->commitId();
        record->lastError.clear();
        setStateLocked(*record, MountState::Mounted);
        spdlog::info("mount '{}': mounted {} ({}) at {}", config.name, config.source.describe(),
                     record->commitId, mountpoint.string());
        return std::nullopt;
    } catch (const ManagerError& e) {
        error = e;
    } catch (const std::exception& e) {
        error = ManagerError(ManagerErrc::MountFailed, e.what());
    }
    spdlog::error("mount '{}': {}", config.name, error->what());
    std::lock_guard lock(mutex_);
    record->lastError = error->what();
    setStateLocked(*record, MountState::Failed);
    return error;
}

std::optional<ManagerError> MountManager::doUnmount(const RecordPtr& record, UnmountOptions options,
                                                    bool fallBackToLazy) {
    const LogScope scope(record->config.name, "unmount");
    std::shared_ptr<ActiveMount> session;
    fs::path mountpoint;
    std::string name;
    {
        std::lock_guard lock(mutex_);
        session = record->session;
        mountpoint = record->config.mountpoint;
        name = record->config.name;
        if (!session) {
            if (record->state != MountState::Failed) {
                setStateLocked(*record, MountState::Unmounted);
            }
            return std::nullopt;
        }
        if (record->state != MountState::Unmounting) {
            setStateLocked(*record, MountState::Unmounting);
        }
    }

    bool lazy = options.lazy;
    bool aborted = false;
    UnmountResult result;
    if (options.force) {
        if (auto failed = abortFuseConnection(session->connection())) {
            spdlog::warn("mount '{}': cannot abort the FUSE connection ({}); detaching lazily",
                         name, *failed);
        } else {
            aborted = true;
        }
        result = unmountLazy(mountpoint);
        lazy = true;
    } else if (options.lazy) {
        result = unmountLazy(mountpoint);
    } else {
        result = unmountNormal(mountpoint);
        if (result.outcome == UnmountOutcome::Busy && fallBackToLazy) {
            spdlog::info("mount '{}': busy; detaching lazily", name);
            result = unmountLazy(mountpoint);
            lazy = true;
        }
    }

    if (result.outcome == UnmountOutcome::Busy || result.outcome == UnmountOutcome::Failed) {
        std::lock_guard lock(mutex_);
        if (result.outcome == UnmountOutcome::Busy) {
            setStateLocked(*record, MountState::Mounted);
            return ManagerError(ManagerErrc::Busy,
                                "mount '" + name + "' at " + mountpoint.string() +
                                    " is busy (a process has a file open or its working "
                                    "directory inside); unmount with lazy or force");
        }
        record->lastError = "unmount failed: " + result.detail;
        setStateLocked(*record, MountState::Mounted);
        return ManagerError(ManagerErrc::MountFailed,
                            "mount '" + name + "': unmount failed: " + result.detail);
    }

    {
        std::lock_guard lock(mutex_);
        record->session.reset();
        record->commitId.clear();
        setStateLocked(*record, MountState::Unmounted);
    }
    spdlog::info("mount '{}': unmounted {}{}", name, mountpoint.string(),
                 aborted ? " (connection aborted)"
                 : lazy  ? " (lazily)"
                         : "");
    releaseSession(std::move(session), !lazy || aborted);
    return std::nullopt;
}

void MountManager::releaseSession(std::shared_ptr<ActiveMount> session, bool connectionEnded) {
    // The kernel side is gone (or detached). A session whose connection still serves open files
    // must not be destroyed yet: its teardown would abort them after a grace period.
    if (connectionEnded || session->waitFinished(kLazyReleaseWait)) {
        session.reset();  // destroyed here, outside every lock
        return;
    }
    std::lock_guard lock(mutex_);
    draining_.push_back(std::move(session));
}

// ---- persistence ----

void MountManager::markWanted(const RecordPtr& record, bool wanted) {
    {
        std::lock_guard lock(mutex_);
        if (wanted) {
            wanted_[record->config.name] = record->config.mountpoint;
        } else {
            wanted_.erase(record->config.name);
        }
        ++wantedVersion_;
    }
    saveStateFile();
}

void MountManager::saveStateFile() {
    if (options_.stateFile.empty()) {
        return;
    }
    // Lock order: stateFileMutex_ → mutex_ (never the reverse).
    std::lock_guard saving(stateFileMutex_);
    StateFile::Entries entries;
    uint64_t version = 0;
    {
        std::lock_guard lock(mutex_);
        entries = wanted_;
        version = wantedVersion_;
    }
    if (version <= savedVersion_) {
        return;
    }
    stateFile_.save(entries);
    savedVersion_ = version;
}

// ---- public operations ----

void MountManager::start(const config::Config& config, std::function<void()> allMountsSettled) {
    StateFile::Entries previous;
    if (!options_.stateFile.empty()) {
        previous = stateFile_.load();
    }
    // A daemon killed with its mounts up leaves them stale ("Transport endpoint is not
    // connected"); clear them before anything tries to use the folders.
    std::vector<fs::path> candidates;
    for (const auto& [name, mountpoint] : previous) {
        candidates.push_back(mountpoint);
    }
    for (const auto& mount : config.mounts) {
        candidates.push_back(mount.mountpoint);
    }
    for (const auto& mountpoint : candidates) {
        if (isStaleMountpoint(mountpoint)) {
            spdlog::warn("clearing stale FUSE mount at {}", mountpoint.string());
            if (auto failed = clearStaleMountpoint(mountpoint)) {
                spdlog::error("cannot clear stale mount at {}: {}", mountpoint.string(), *failed);
            }
        }
    }

    auto remaining = std::make_shared<std::atomic<size_t>>(0);
    auto settled = std::make_shared<std::function<void()>>(std::move(allMountsSettled));
    size_t toMount = 0;
    {
        std::lock_guard lock(mutex_);
        config_ = config;
        wanted_.clear();
        std::vector<RecordPtr> mountNow;
        for (const auto& mount : config.mounts) {
            RecordPtr record = addRecordLocked(mount, true);
            const bool wasMounted = previous.contains(mount.name);
            if (wasMounted) {
                wanted_[mount.name] = mount.mountpoint;
            }
            if (mount.automount || wasMounted) {
                mountNow.push_back(record);
            }
        }
        ++wantedVersion_;
        toMount = mountNow.size();
        remaining->store(toMount);
        for (const auto& record : mountNow) {
            try {
                enqueueLocked(record, [this, record, remaining, settled] {
                    if (!doMount(record)) {
                        markWanted(record, true);
                    }
                    if (remaining->fetch_sub(1) == 1 && *settled) {
                        (*settled)();
                    }
                });
                setStateLocked(*record, MountState::Mounting);
            } catch (const ManagerError& e) {
                record->lastError = e.what();
                setStateLocked(*record, MountState::Failed);
                if (remaining->fetch_sub(1) == 1) {
                    toMount = 0;  // settled below, outside the lock
                }
            }
        }
    }
    saveStateFile();
    if (toMount == 0 && *settled) {
        (*settled)();
    }
}

ReloadSummary MountManager::reload(const config::Config& config) {
    ReloadSummary summary;
    std::lock_guard lock(mutex_);
    if (stopping_) {
        throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
    }
    summary.diff = config::diffConfigs(config_, config);
    const auto& diff = summary.diff;

    // Refuse before touching anything when the new file clashes with an ad-hoc mount.
    for (const auto& name : diff.added) {
        if (RecordPtr existing = findLocked(name); existing && !existing->configured) {
            throw ManagerError(ManagerErrc::InvalidConfig,
                               "mount '" + name +
                                   "' is an ad-hoc mount; remove it (RemoveMount) before adding "
                                   "it to the configuration");
        }
    }
    for (const auto& mount : config.mounts) {
        for (const auto& [name, record] : mounts_) {
            if (record->configured || record->leaving) {
                continue;
            }
            const fs::path& other = record->config.mountpoint;
            if (isSameOrInside(mount.mountpoint, other) ||
                isSameOrInside(other, mount.mountpoint)) {
                throw ManagerError(ManagerErrc::InvalidConfig,
                                   "mount '" + mount.name + "': mountpoint " +
                                       mount.mountpoint.string() + " clashes with ad-hoc mount '" +
                                       name + "' at " + other.string());
            }
        }
    }

    for (const auto& name : diff.removed) {
        RecordPtr record = findLocked(name);
        if (!record) {
            continue;
        }
        record->leaving = true;
        enqueueLocked(record, [this, record] {
            if (auto error = doUnmount(record, {}, /*fallBackToLazy=*/true)) {
                spdlog::error("reload: mount '{}': {}", record->config.name, error->what());
            }
            {
                std::lock_guard inner(mutex_);
                removeRecordLocked(record);
            }
            markWanted(record, false);
        });
    }

    for (const auto& name : diff.changed) {
        RecordPtr record = findLocked(name);
        const config::MountConfig* next = config.findMount(name);
        if (!record || next == nullptr) {
            continue;
        }
        if (!needsRemount(record->config, *next)) {
            record->config = *next;
            notifyChangedLocked(*record);
            continue;
        }
        ++summary.remounted;
        enqueueLocked(record, [this, record, updated = *next] {
            bool wasLive = false;
            {
                std::lock_guard inner(mutex_);
                wasLive = record->session != nullptr;
            }
            if (wasLive) {
                if (auto error = doUnmount(record, {}, /*fallBackToLazy=*/true)) {
                    spdlog::error("reload: mount '{}': {}", updated.name, error->what());
                    return;
                }
            }
            {
                std::lock_guard inner(mutex_);
                record->config = updated;
                notifyChangedLocked(*record);
            }
            if (wasLive || updated.automount) {
                markWanted(record, !doMount(record).has_value());
            }
        });
    }

    for (const auto& name : diff.added) {
        const config::MountConfig* mount = config.findMount(name);
        if (mount == nullptr) {
            continue;
        }
        RecordPtr record = addRecordLocked(*mount, true);
        if (mount->automount) {
            enqueueLocked(record, [this, record] {
                if (!doMount(record)) {
                    markWanted(record, true);
                }
            });
            setStateLocked(*record, MountState::Mounting);
        }
    }

    config_ = config;
    spdlog::info("reload: {} added, {} removed, {} changed ({} remounted), {} unchanged",
                 diff.added.size(), diff.removed.size(), diff.changed.size(), summary.remounted,
                 diff.unchanged.size());
    return summary;
}

void MountManager::mount(const std::string& name, Done done) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
    }
    RecordPtr record = requireLocked(name);
    switch (record->state) {
        case MountState::Mounted:
            throw ManagerError(
                ManagerErrc::AlreadyMounted,
                "mount '" + name + "' is already mounted at " + record->config.mountpoint.string());
        case MountState::Mounting:
            throw ManagerError(ManagerErrc::AlreadyMounted,
                               "mount '" + name + "' is being mounted");
        case MountState::Unmounting:
            throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being unmounted");
        case MountState::Unmounted:
        case MountState::Failed:
            break;
    }
    // An operation still finishing on the strand (its reply already sent) is no reason to
    // refuse: this one queues behind it. A queued removal is.
    if (record->leaving) {
        throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being removed");
    }
    enqueueLocked(record, [this, record, done = std::move(done)] {
        auto error = doMount(record);
        if (!error) {
            markWanted(record, true);
        }
        done(error);
    });
    record->lastError.clear();
    setStateLocked(*record, MountState::Mounting);
}

void MountManager::unmount(const std::string& name, UnmountOptions options, Done done) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
    }
    RecordPtr record = requireLocked(name);
    switch (record->state) {
        case MountState::Unmounted:
        case MountState::Failed:
            throw ManagerError(ManagerErrc::NotMounted, "mount '" + name + "' is not mounted");
        case MountState::Mounting:
            throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being mounted");
        case MountState::Unmounting:
            throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being unmounted");
        case MountState::Mounted:
            break;
    }
    // An operation still finishing on the strand (its reply already sent) is no reason to
    // refuse: this one queues behind it. A queued removal is.
    if (record->leaving) {
        throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being removed");
    }
    enqueueLocked(record, [this, record, options, done = std::move(done)] {
        auto error = doUnmount(record, options, /*fallBackToLazy=*/false);
        if (!error) {
            markWanted(record, false);
        }
        done(error);
    });
    setStateLocked(*record, MountState::Unmounting);
}

std::string MountManager::addMount(const MountSpec& spec, Done done) {
    config::MountConfig config = parseSpec(spec);
    // Outside the lock: stat of a user-given path may be slow.
    if (auto problem = mountpointProblem(config.mountpoint)) {
        throw ManagerError(ManagerErrc::InvalidArgs, *problem);
    }
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
        }
        if (findLocked(config.name)) {
            throw ManagerError(ManagerErrc::InvalidArgs,
                               "a mount named '" + config.name + "' already exists");
        }
        if (mounts_.size() >= options_.maxMounts) {
            throw ManagerError(
                ManagerErrc::InvalidArgs,
                "too many mounts (max_mounts is " + std::to_string(options_.maxMounts) + ")");
        }
        if (auto clash = mountpointClashLocked(config.mountpoint, config.name)) {
            throw ManagerError(ManagerErrc::InvalidArgs, *clash);
        }
        RecordPtr record = addRecordLocked(config, false);
        if (spec.mountNow) {
            try {
                enqueueLocked(record, [this, record, done = std::move(done)] {
                    auto error = doMount(record);
                    if (!error) {
                        markWanted(record, true);
                    }
                    done(error);
                });
            } catch (...) {
                removeRecordLocked(record);
                throw;
            }
            setStateLocked(*record, MountState::Mounting);
            return config.name;
        }
    }
    done(std::nullopt);
    return config.name;
}

void MountManager::removeMount(const std::string& name, UnmountOptions options, Done done) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
    }
    RecordPtr record = requireLocked(name);
    if (record->configured) {
        throw ManagerError(ManagerErrc::InvalidArgs,
                           "mount '" + name +
                               "' is defined in the configuration file; remove it there and "
                               "Reload");
    }
    if (record->leaving) {
        throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being removed");
    }
    record->leaving = true;
    enqueueLocked(record, [this, record, options, done = std::move(done)] {
        if (auto error = doUnmount(record, options, /*fallBackToLazy=*/false)) {
            std::lock_guard inner(mutex_);
            record->leaving = false;
            done(error);
            return;
        }
        {
            std::lock_guard inner(mutex_);
            removeRecordLocked(record);
        }
        markWanted(record, false);
        done(std::nullopt);
    });
}

void MountManager::prefetch(const std::string& name, std::vector<std::string> paths,
                            PrefetchDone done) {
    std::shared_ptr<ActiveMount> session;
    RecordPtr record;
    {
        std::lock_guard lock(mutex_);
        record = requireLocked(name);
        if (record->state != MountState::Mounted || !record->session) {
            throw ManagerError(ManagerErrc::NotMounted, "mount '" + name + "' is not mounted");
        }
        if (prefetchesQueued_ >= options_.maxQueuedOperations) {
            throw ManagerError(ManagerErrc::Busy,
                               "too many operations are queued (max_queued_operations is " +
                                   std::to_string(options_.maxQueuedOperations) + ")");
        }
        session = record->session;
        ++prefetchesQueued_;
    }
    auto task = [this, record, session, paths = std::move(paths),
                 done = std::move(done)]() mutable {
        {
            std::lock_guard lock(mutex_);
            --prefetchesQueued_;
        }
        try {
            uint64_t fetched = session->prefetch(paths, progressFor(record));
            done(std::nullopt, fetched);
        } catch (const ManagerError& e) {
            done(e, 0);
        } catch (const std::exception& e) {
            done(ManagerError(ManagerErrc::MountFailed, e.what()), 0);
        }
    };
    if (!pool_.submit(std::move(task))) {
        std::lock_guard lock(mutex_);
        --prefetchesQueued_;
        throw ManagerError(ManagerErrc::Busy, "too many operations are queued; try again later");
    }
}

void MountManager::enqueueChangeOperation(const std::string& name, const char* what,
                                          std::function<void(changes::ChangeSet&)> op,
                                          std::function<void(const ManagerError&)> fail) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        throw ManagerError(ManagerErrc::Busy, "the daemon is stopping");
    }
    RecordPtr record = requireLocked(name);
    if (!record->config.writable) {
        throw ManagerError(ManagerErrc::NotWritable, "mount '" + name +
                                                         "' is read-only (writable: false); " +
                                                         what + " needs a writable mount");
    }
    if (record->state != MountState::Mounted || !record->session) {
        throw ManagerError(ManagerErrc::NotWritable,
                           "mount '" + name + "' is not mounted; " + what + " needs it mounted");
    }
    if (record->session->changeSet() == nullptr) {
        throw ManagerError(ManagerErrc::NotWritable, "mount '" + name +
                                                         "' is mounted read-only (no overlay); " +
                                                         what + " needs a writable mount");
    }
    if (record->leaving) {
        throw ManagerError(ManagerErrc::Busy, "mount '" + name + "' is being removed");
    }
    std::shared_ptr<ActiveMount> session = record->session;
    enqueueLocked(record, [this, record, session, name, what, op = std::move(op),
                           fail = std::move(fail)] {
        {
            std::lock_guard inner(mutex_);
            if (record->session != session) {
                fail(ManagerError(ManagerErrc::NotWritable,
                                  "mount '" + name + "' was unmounted before " + what + " ran"));
                return;
            }
        }
        try {
            op(*session->changeSet());
            return;
        } catch (const changes::ChangeSetError& e) {
            spdlog::warn("mount '{}': {}: {}", name, what, e.what());
            fail(fromChangeSetError(name, e));
        } catch (const ManagerError& e) {
            fail(e);
        } catch (const std::exception& e) {
            spdlog::error("mount '{}': {}: {}", name, what, e.what());
            fail(ManagerError(ManagerErrc::Failed, "mount '" + name + "': " + e.what()));
        }
    });
}

void MountManager::baseMoved(const RecordPtr& record, const std::shared_ptr<ActiveMount>& session,
                             const std::string& commitId) {
    std::lock_guard lock(mutex_);
    if (record->session != session) {
        return;
    }
    record->commitId = commitId;
    notifyChangedLocked(*record);
}

void MountManager::listChanges(const std::string& name, std::vector<std::string> paths,
                               const ResultDone<std::vector<changes::Change>>& done) {
    enqueueChangeOperation(
        name, "listing changes",
        [paths = std::move(paths), done](changes::ChangeSet& set) {
            done(std::nullopt, set.changes(paths));
        },
        [done](const ManagerError& error) { done(error, {}); });
}

void MountManager::diff(const std::string& name, std::vector<std::string> paths,
                        const ResultDone<std::string>& done) {
    enqueueChangeOperation(
        name, "diff",
        [paths = std::move(paths), done](changes::ChangeSet& set) {
            done(std::nullopt, set.diff(paths));
        },
        [done](const ManagerError& error) { done(error, {}); });
}

void MountManager::reset(const std::string& name, std::vector<std::string> paths,
                         const ResultDone<uint64_t>& done) {
    enqueueChangeOperation(
        name, "reset",
        [name, paths = std::move(paths), done](changes::ChangeSet& set) {
            const uint64_t count = set.reset(paths);
            spdlog::info("mount '{}': reset {} changed paths", name, count);
            done(std::nullopt, count);
        },
        [done](const ManagerError& error) { done(error, 0); });
}

void MountManager::commit(const std::string& name, changes::CommitRequest request,
                          const ResultDone<std::string>& done) {
    RecordPtr record;
    std::shared_ptr<ActiveMount> session;
    {
        std::lock_guard lock(mutex_);
        record = requireLocked(name);
        session = record->session;
    }
    enqueueChangeOperation(
        name, "commit",
        [this, name, record, session, request = std::move(request), done](changes::ChangeSet& set) {
            const std::string id = set.commit(request).hex();
            spdlog::info("mount '{}': committed {}", name, id);
            baseMoved(record, session, id);
            done(std::nullopt, id);
        },
        [done](const ManagerError& error) { done(error, {}); });
}

void MountManager::push(const std::string& name, std::string remoteRef,
                        const ResultDone<changes::PushResult>& done) {
    enqueueChangeOperation(
        name, "push",
        [name, remoteRef = std::move(remoteRef), done](changes::ChangeSet& set) {
            changes::PushResult result = set.push(remoteRef);
            spdlog::info("mount '{}': pushed {} to {}", name, result.commit.hex(),
                         result.remoteRef);
            done(std::nullopt, std::move(result));
        },
        [done](const ManagerError& error) { done(error, {}); });
}

void MountManager::checkout(const std::string& name, std::string revision, bool force,
                            const ResultDone<std::string>& done) {
    RecordPtr record;
    std::shared_ptr<ActiveMount> session;
    {
        std::lock_guard lock(mutex_);
        record = requireLocked(name);
        session = record->session;
    }
    enqueueChangeOperation(
        name, "checkout",
        [this, name, record, session, revision = std::move(revision), force,
         done](changes::ChangeSet& set) {
            const std::string id = set.checkout(revision, force).hex();
            spdlog::info("mount '{}': checked out {} ({}){}", name, revision, id,
                         force ? " (forced)" : "");
            baseMoved(record, session, id);
            done(std::nullopt, id);
        },
        [done](const ManagerError& error) { done(error, {}); });
}

std::vector<MountInfo> MountManager::list() const {
    std::lock_guard lock(mutex_);
    std::vector<MountInfo> out;
    out.reserve(mounts_.size());
    for (const auto& [name, record] : mounts_) {
        out.push_back(infoLocked(*record));
    }
    return out;
}

MountInfo MountManager::info(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return infoLocked(*requireLocked(name));
}

bool MountManager::contains(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return findLocked(name) != nullptr;
}

std::string MountManager::resolve(const std::string& nameOrPath) const {
    std::lock_guard lock(mutex_);
    if (findLocked(nameOrPath)) {
        return nameOrPath;
    }
    fs::path path(nameOrPath);
    if (path.is_absolute()) {
        path = normalized(path);
        const Record* best = nullptr;
        for (const auto& [name, record] : mounts_) {
            const fs::path& mountpoint = record->config.mountpoint;
            if (isSameOrInside(path, mountpoint) &&
                (best == nullptr ||
                 mountpoint.string().size() > best->config.mountpoint.string().size())) {
                best = record.get();
            }
        }
        if (best != nullptr) {
            return best->config.name;
        }
    }
    throw ManagerError(ManagerErrc::NotFound, "no mount named or containing '" + nameOrPath + "'");
}

config::Config MountManager::currentConfig() const {
    std::lock_guard lock(mutex_);
    return config_;
}

void MountManager::checkSessions() {
    std::vector<std::shared_ptr<ActiveMount>> ended;
    {
        std::lock_guard lock(mutex_);
        for (auto it = draining_.begin(); it != draining_.end();) {
            if ((*it)->finished()) {
                ended.push_back(std::move(*it));
                it = draining_.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& [name, record] : mounts_) {
            // A read-only mount at a moving revision follows upstream by itself (refresh): its
            // CommitId follows too. Writable mounts move only through commit and checkout,
            // which report it themselves (baseMoved).
            if (record->state == MountState::Mounted && record->session &&
                !record->config.writable && !record->session->finished()) {
                if (std::string id = record->session->commitId(); id != record->commitId) {
                    record->commitId = std::move(id);
                    notifyChangedLocked(*record);
                }
            }
            // A fault the session lives on with (a writable mount's overlay folder deleted)
            // reaches LastError here: the FUSE reply and the log are not where a user of
            // `megactl status` looks. The state stays mounted, since reads still work.
            if (record->state == MountState::Mounted && !record->running && record->session &&
                !record->session->finished()) {
                if (auto fault = record->session->fault(); fault && *fault != record->lastError) {
                    spdlog::warn("mount '{}': {}", name, *fault);
                    record->lastError = std::move(*fault);
                    notifyChangedLocked(*record);
                }
            }
            if (record->state == MountState::Mounted && !record->running && record->session &&
                record->session->finished()) {
                spdlog::warn("mount '{}': the FUSE session ended outside mega-fused", name);
                ended.push_back(std::move(record->session));
                record->session.reset();
                record->commitId.clear();
                record->lastError =
                    "the FUSE session ended outside mega-fused (external unmount or aborted "
                    "connection)";
                setStateLocked(*record, MountState::Unmounted);
            }
        }
    }
    // ended: destroyed here, outside the lock.
}

bool MountManager::shutdown(std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    std::unique_lock lock(mutex_);
    stopping_ = true;
    for (auto& [name, held] : mounts_) {
        const RecordPtr record = held;  // a lambda may not capture a binding (clang 14)
        if (record->session || record->running) {
            try {
                enqueueLocked(record, [this, record] {
                    if (auto error = doUnmount(record, {}, /*fallBackToLazy=*/true)) {
                        spdlog::error("stop: mount '{}': {}", record->config.name, error->what());
                    }
                });
            } catch (const ManagerError& e) {
                spdlog::error("stop: mount '{}': {}", name, e.what());
            }
        }
    }
    const bool idle = idle_.wait_until(lock, deadline, [this] {
        return std::none_of(mounts_.begin(), mounts_.end(),
                            [](const auto& entry) { return entry.second->running; });
    });

    // Whatever still serves a connection now is aborted: the bound wins over open files.
    std::vector<std::pair<fs::path, std::shared_ptr<ActiveMount>>> leftovers;
    for (auto& [name, record] : mounts_) {
        if (record->session && !record->running) {
            leftovers.emplace_back(record->config.mountpoint, std::move(record->session));
            record->session.reset();
            setStateLocked(*record, MountState::Unmounted);
        }
    }
    for (auto& session : draining_) {
        leftovers.emplace_back(fs::path(), std::move(session));
    }
    draining_.clear();
    lock.unlock();

    for (auto& [mountpoint, session] : leftovers) {
        if (!session->finished()) {
            if (auto failed = abortFuseConnection(session->connection())) {
                spdlog::warn("stop: cannot abort FUSE connection {}: {}", session->connection(),
                             *failed);
            }
        }
        if (!mountpoint.empty()) {
            (void)unmountLazy(mountpoint);
        }
        session.reset();
    }
    if (!idle) {
        spdlog::warn("stop: some operations were still running after {} ms", bound.count());
    }
    return idle;
}

std::map<MountState, size_t> MountManager::countByState() const {
    std::lock_guard lock(mutex_);
    std::map<MountState, size_t> counts;
    for (const auto& [name, record] : mounts_) {
        ++counts[record->state];
    }
    return counts;
}

}  // namespace megafuse::manager
