// FuseMountBackend: open source → resolve revision → Filesystem → FuseMount; prefetch walks the
// mounted tree and fetches missing blobs in bounded batches. A writable mount adds its overlay
// (<state_dir>/overlays/<mount name>), a WritableFilesystem and the change set.
#include "manager/FuseMountBackend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <thread>

#include "changes/ChangeSet.hpp"
#include "config/StoreSettings.hpp"
#include "fs/Filesystem.hpp"
#include "fs/FuseMount.hpp"
#include "fs/TreeRefresher.hpp"
#include "fs/WritableFilesystem.hpp"
#include "manager/ManagerError.hpp"
#include "manager/Mountpoints.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/StoreError.hpp"

namespace megafuse::manager {
namespace {

ManagerError fromStoreError(const std::string& name, const store::StoreError& e) {
    return {e.code() == store::StoreErrc::Timeout ? ManagerErrc::Timeout : ManagerErrc::MountFailed,
            "mount '" + name + "': " + e.what()};
}

// What a writable mount adds: its overlay, the filesystem over it, and the change set.
struct WritableParts {
    std::unique_ptr<overlay::OverlayStore> overlay;
    std::unique_ptr<fs::WritableFilesystem> filesystem;
    changes::ChangeSetOptions changeSetOptions;
};

// Members in teardown order: the refresh poll stops first, then the FUSE session ends, then the
// change set, the filesystem it serves, the overlay, then the store reference.
class FuseActiveMount final : public ActiveMount {
public:
    FuseActiveMount(std::string name, std::shared_ptr<store::ObjectStore> store,
                    const store::ObjectId& commit, const store::ObjectId& root, int64_t commitTime,
                    fs::FsOptions fsOptions, fs::MountOptions mountOptions, size_t batchMax,
                    size_t fetchConcurrency, std::optional<WritableParts> writable,
                    const std::string& subPath, std::chrono::milliseconds refreshInterval)
        : name_(std::move(name)),
          store_(std::move(store)),
          commit_(commit),
          root_(root),
          batchMax_(std::max<size_t>(batchMax, 1)),
          fetchConcurrency_(std::max<size_t>(fetchConcurrency, 1)) {
        if (writable) {
            overlay_ = std::move(writable->overlay);
            writableFilesystem_ = std::move(writable->filesystem);
            mountOptions.readOnly = false;
            mount_ =
                std::make_unique<fs::FuseMount>(fs::WritableFilesystem::operations(),
                                                writableFilesystem_.get(), std::move(mountOptions));
            writableFilesystem_->attachSession(mount_->session());
            changeSet_ = std::make_unique<changes::ChangeSet>(
                store_, *overlay_, *writableFilesystem_, std::move(writable->changeSetOptions));
        } else {
            filesystem_ = std::make_unique<fs::Filesystem>(store_, root, commitTime, fsOptions);
            mount_ = std::make_unique<fs::FuseMount>(*filesystem_, std::move(mountOptions));
            if (refreshInterval.count() > 0) {
                refresher_ = std::make_unique<fs::TreeRefresher>(*filesystem_, mount_->session(),
                                                                 subPath, refreshInterval, name_);
            }
        }
        connection_ = fuseConnectionOf(mount_->mountpoint()).value_or(0);
    }

    ~FuseActiveMount() override {
        refresher_.reset();
        if (writableFilesystem_) {
            writableFilesystem_->attachSession(nullptr);
        }
        mount_.reset();
        changeSet_.reset();
        filesystem_.reset();
        writableFilesystem_.reset();
        overlay_.reset();
    }

    [[nodiscard]] std::string commitId() const override {
        // A writable mount's base moves with commit and checkout: the overlay knows where; a
        // refreshing one's with upstream: its refresher knows.
        if (overlay_) {
            return overlay_->baseCommit().value_or(commit_).hex();
        }
        const auto refreshed = refresher_ ? refresher_->commit() : std::nullopt;
        return refreshed.value_or(commit_).hex();
    }

    [[nodiscard]] changes::ChangeSet* changeSet() override { return changeSet_.get(); }

    [[nodiscard]] MountStats stats() const override {
        store::StoreStats s = store_->stats();
        return MountStats{s.objectsFetched, s.bytesFetched, s.contentCacheHits,
                          s.contentCacheMisses};
    }

    [[nodiscard]] unsigned long connection() const override { return connection_; }
    [[nodiscard]] bool finished() const override { return mount_->loopEnded(); }
    [[nodiscard]] std::optional<std::string> fault() const override {
        return overlay_ ? overlay_->fault() : std::nullopt;
    }

    [[nodiscard]] bool waitFinished(std::chrono::milliseconds timeout) const override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!mount_->loopEnded()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return true;
    }

    uint64_t prefetch(const std::vector<std::string>& paths, const ProgressFn& progress) override {
        try {
            std::vector<store::ObjectId> missing;
            if (paths.empty()) {
                collect(root_, missing);
            }
            for (const auto& path : paths) {
                collectPath(path, missing);
            }
            std::sort(missing.begin(), missing.end());
            missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
            const uint64_t total = missing.size();
            uint64_t done = 0;
            if (progress) {
                progress("prefetch", 0, total);
            }
            // fetch_concurrency batches per call: the store runs them at once (its fetch
            // workers, as many as this mount's fetch_concurrency), progress after each group.
            const size_t group = batchMax_ * fetchConcurrency_;
            for (size_t start = 0; start < missing.size(); start += group) {
                const size_t end = std::min(missing.size(), start + group);
                // Indices below missing.size(), which a vector keeps within ptrdiff_t.
                const auto first = missing.begin() + static_cast<std::ptrdiff_t>(start);
                const auto last = missing.begin() + static_cast<std::ptrdiff_t>(end);
                store_->prefetchBlobs(std::vector<store::ObjectId>(first, last));
                done = end;
                if (progress) {
                    progress("prefetch", done, total);
                }
            }
            return total;
        } catch (const store::StoreError& e) {
            throw fromStoreError(name_, e);
        }
    }

private:
    // Missing blobs of a tree, recursively (gitlinks have no blobs here).
    void collect(const store::ObjectId& tree, std::vector<store::ObjectId>& missing) {
        for (const auto& entry : store_->readTree(tree)->entries()) {
            if (entry.kind == store::EntryKind::Directory) {
                collect(entry.id, missing);
            } else if (entry.isBlob() && !store_->hasBlob(entry.id)) {
                missing.push_back(entry.id);
            }
        }
    }

    void collectPath(const std::string& path, std::vector<store::ObjectId>& missing) {
        store::ObjectId current = root_;
        store::EntryKind kind = store::EntryKind::Directory;
        size_t pos = 0;
        while (pos < path.size()) {
            size_t slash = path.find('/', pos);
            std::string part = path.substr(pos, slash == std::string::npos ? slash : slash - pos);
            pos = slash == std::string::npos ? path.size() : slash + 1;
            if (part.empty() || part == ".") {
                continue;
            }
            if (kind != store::EntryKind::Directory) {
                throw ManagerError(ManagerErrc::InvalidArgs, "'" + path + "' is not a directory");
            }
            const store::TreeEntry* entry = store_->readTree(current)->find(part);
            if (entry == nullptr) {
                throw ManagerError(ManagerErrc::InvalidArgs,
                                   "no such path in mount '" + name_ + "': '" + path + "'");
            }
            current = entry->id;
            kind = entry->kind;
        }
        if (kind == store::EntryKind::Directory) {
            collect(current, missing);
        } else if (kind != store::EntryKind::Gitlink && !store_->hasBlob(current)) {
            missing.push_back(current);
        }
    }

    std::string name_;
    std::shared_ptr<store::ObjectStore> store_;
    store::ObjectId commit_;
    store::ObjectId root_;
    size_t batchMax_;
    size_t fetchConcurrency_;
    std::unique_ptr<overlay::OverlayStore> overlay_;
    std::unique_ptr<fs::Filesystem> filesystem_;
    std::unique_ptr<fs::WritableFilesystem> writableFilesystem_;
    std::unique_ptr<changes::ChangeSet> changeSet_;
    std::unique_ptr<fs::FuseMount> mount_;
    std::unique_ptr<fs::TreeRefresher> refresher_;
    unsigned long connection_ = 0;
};

}  // namespace

FuseMountBackend::FuseMountBackend(const config::GlobalSettings& global)
    : global_(global), registry_(config::toStoreOptions(global)) {}

std::unique_ptr<ActiveMount> FuseMountBackend::mount(const config::MountConfig& mount,
                                                     const ProgressFn& progress) {
    try {
        // A Mega source's token file is read (and its mode checked) when its store opens.
        const store::SourceSpec source =
            mount.source.kind == config::SourceConfig::Kind::Mega
                ? store::SourceSpec::mega(mount.source.location, mount.source.megaPath,
                                          mount.source.tokenFile)
                : store::SourceSpec::parse(mount.source.location);
        store::StoreRegistry::Request request = config::toStoreRequest(global_, mount);
        if (progress) {
            request.cloneProgress = [&progress](const store::CloneProgressUpdate& update) {
                progress(update.phase == store::CloneProgressUpdate::Phase::ReceivingObjects
                             ? "clone"
                             : "resolve-deltas",
                         update.done, update.total);
            };
        }
        spdlog::info("mount '{}': fetch_timeout {} ms, fetch_concurrency {}", mount.name,
                     request.fetchTimeout->count(), *request.fetchConcurrency);
        std::shared_ptr<store::ObjectStore> objects = registry_.open(source, request);
        store::ObjectId commit = objects->resolveCommit(mount.revision);
        std::optional<WritableParts> writable;
        if (mount.writable) {
            writable.emplace();
            const auto overlayDir = global_.stateDir / "overlays" / mount.name;
            overlay::XattrLimits xattrLimits;
            xattrLimits.maxNameBytes = global_.xattrNameMax;
            xattrLimits.maxValueBytes = global_.xattrValueMax;
            xattrLimits.maxListBytes = global_.xattrNamesMax;
            xattrLimits.maxBytesPerEntry = global_.xattrEntryMax;
            writable->overlay = overlay::OverlayStore::open(overlayDir, xattrLimits);
            if (auto kept = writable->overlay->baseCommit()) {
                if (*kept != commit) {
                    spdlog::info(
                        "mount '{}': overlay is based on {}, not on {} ({}); keeping "
                        "its base",
                        mount.name, kept->hex(), mount.revision, commit.hex());
                }
                commit = *kept;
            } else {
                writable->overlay->setBaseCommit(commit);
            }
            fs::WritableFsOptions writableOptions;
            const auto timeout = std::chrono::duration<double>(mount.effectiveAttrTimeout(global_));
            writableOptions.entryTimeout = timeout;
            writableOptions.attrTimeout = timeout;
            writable->filesystem = std::make_unique<fs::WritableFilesystem>(
                objects, *writable->overlay, mount.subPath, writableOptions);
            writable->changeSetOptions.subPath = mount.subPath;
            writable->changeSetOptions.revision = mount.revision;
            writable->changeSetOptions.mountName = mount.name;
            writable->changeSetOptions.maxDiffBytes = global_.maxDiffBytes;
            writable->changeSetOptions.pushTimeout = global_.pushTimeout;
            writable->changeSetOptions.maxHashCacheEntries = global_.changesHashCacheEntries;
            if (global_.author) {
                writable->changeSetOptions.author =
                    changes::Signature{global_.author->name, global_.author->email};
            }
        }
        const store::ObjectId root = objects->treeAtPath(commit, mount.subPath);
        const int64_t commitTime = objects->commitTime(commit);

        fs::FsOptions fsOptions;
        const auto attr = std::chrono::duration<double>(mount.effectiveAttrTimeout(global_));
        fsOptions.entryTimeout = attr;
        fsOptions.attrTimeout = attr;
        fsOptions.negativeTimeout = attr;
        fsOptions.reportedCapacityBytes = global_.contentCacheBytes;
        fsOptions.listingPrefetchWindow = global_.prefetchWindow;
        fsOptions.listingPrefetchMaxBlobs = global_.prefetchListingMaxBlobs;
        fsOptions.directoryPrefetchMaxBlobs = global_.prefetchDirectoryMaxBlobs;
        fsOptions.prefetchedDirectoriesMax = global_.prefetchRememberedDirectories;
        fs::MountOptions mountOptions;
        mountOptions.mountpoint = mount.mountpoint;
        mountOptions.fsName = "mega-fuse:" + mount.name;
        // Only a read-only Mega mount at HEAD moves: a pinned revision never changes, and a
        // writable mount's base stays where its overlay's changes were made (docs/mega-source.md).
        const bool moving = source.kind == store::SourceSpec::Kind::Mega && !mount.writable &&
                            (mount.revision.empty() || mount.revision == "HEAD");
        return std::make_unique<FuseActiveMount>(
            mount.name, std::move(objects), commit, root, commitTime, fsOptions,
            std::move(mountOptions), global_.fetchBatchMax, *request.fetchConcurrency,
            std::move(writable), mount.subPath,
            moving ? mount.source.refreshInterval : std::chrono::milliseconds(0));
    } catch (const store::StoreError& e) {
        throw fromStoreError(mount.name, e);
    } catch (const fs::MountError& e) {
        throw ManagerError(ManagerErrc::MountFailed, "mount '" + mount.name + "': " + e.what());
    } catch (const overlay::OverlayError& e) {
        throw ManagerError(ManagerErrc::MountFailed, "mount '" + mount.name + "': " + e.what());
    }
}

}  // namespace megafuse::manager
