// FuseMountBackend: open source → resolve revision → Filesystem → FuseMount; prefetch walks the
// mounted tree and fetches missing blobs in bounded batches.
#include "manager/FuseMountBackend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "config/StoreSettings.hpp"
#include "fs/Filesystem.hpp"
#include "fs/FuseMount.hpp"
#include "manager/ManagerError.hpp"
#include "manager/Mountpoints.hpp"
#include "store/StoreError.hpp"

namespace megafuse::manager {
namespace {

ManagerError fromStoreError(const std::string& name, const store::StoreError& e) {
    return ManagerError(
        e.code() == store::StoreErrc::Timeout ? ManagerErrc::Timeout : ManagerErrc::MountFailed,
        "mount '" + name + "': " + e.what());
}

// Members in teardown order: the FUSE session ends first, then the filesystem it serves, then
// the store reference.
class FuseActiveMount final : public ActiveMount {
public:
    FuseActiveMount(std::string name, std::shared_ptr<store::ObjectStore> store,
                    store::ObjectId commit, store::ObjectId root, int64_t commitTime,
                    fs::FsOptions fsOptions, fs::MountOptions mountOptions, size_t batchMax)
        : name_(std::move(name)),
          store_(std::move(store)),
          commit_(commit),
          root_(root),
          batchMax_(std::max<size_t>(batchMax, 1)),
          filesystem_(std::make_unique<fs::Filesystem>(store_, root, commitTime, fsOptions)),
          mount_(std::make_unique<fs::FuseMount>(*filesystem_, std::move(mountOptions))),
          connection_(fuseConnectionOf(mount_->mountpoint()).value_or(0)) {}

    ~FuseActiveMount() override {
        mount_.reset();
        filesystem_.reset();
    }

    [[nodiscard]] std::string commitId() const override { return commit_.hex(); }

    [[nodiscard]] MountStats stats() const override {
        store::StoreStats s = store_->stats();
        return MountStats{s.objectsFetched, s.bytesFetched, s.contentCacheHits,
                          s.contentCacheMisses};
    }

    [[nodiscard]] unsigned long connection() const override { return connection_; }
    [[nodiscard]] bool finished() const override { return mount_->loopEnded(); }

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
            for (size_t start = 0; start < missing.size(); start += batchMax_) {
                const size_t end = std::min(missing.size(), start + batchMax_);
                store_->prefetchBlobs(
                    std::vector<store::ObjectId>(missing.begin() + start, missing.begin() + end));
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
    std::unique_ptr<fs::Filesystem> filesystem_;
    std::unique_ptr<fs::FuseMount> mount_;
    unsigned long connection_;
};

}  // namespace

FuseMountBackend::FuseMountBackend(const config::GlobalSettings& global)
    : global_(global), registry_(config::toStoreOptions(global)) {}

std::unique_ptr<ActiveMount> FuseMountBackend::mount(const config::MountConfig& mount,
                                                     const ProgressFn& progress) {
    if (mount.source.kind == config::SourceConfig::Kind::Mega) {
        throw ManagerError(
            ManagerErrc::MountFailed,
            "mount '" + mount.name + "': Mega REST sources are not supported by this build yet");
    }
    if (mount.writable) {
        spdlog::warn(
            "mount '{}': writable mounts need the overlay, not built yet; mounting "
            "read-only",
            mount.name);
    }
    try {
        const store::SourceSpec source = store::SourceSpec::parse(mount.source.location);
        const bool remote = source.kind == store::SourceSpec::Kind::GitRemote;
        if (remote && progress) {
            progress("clone", 0, 0);
        }
        std::shared_ptr<store::ObjectStore> objects = registry_.open(source);
        if (remote && progress) {
            progress("clone", 1, 1);
        }
        const store::ObjectId commit = objects->resolveCommit(mount.revision);
        const store::ObjectId root = objects->treeAtPath(commit, mount.subPath);
        const int64_t commitTime = objects->commitTime(commit);

        fs::FsOptions fsOptions;
        const auto attr = std::chrono::duration<double>(mount.effectiveAttrTimeout(global_));
        fsOptions.entryTimeout = attr;
        fsOptions.attrTimeout = attr;
        fsOptions.negativeTimeout = attr;
        fsOptions.reportedCapacityBytes = global_.contentCacheBytes;
        fs::MountOptions mountOptions;
        mountOptions.mountpoint = mount.mountpoint;
        mountOptions.fsName = "mega-fuse:" + mount.name;
        return std::make_unique<FuseActiveMount>(mount.name, std::move(objects), commit, root,
                                                 commitTime, fsOptions, std::move(mountOptions),
                                                 global_.fetchBatchMax);
    } catch (const store::StoreError& e) {
        throw fromStoreError(mount.name, e);
    } catch (const fs::MountError& e) {
        throw ManagerError(ManagerErrc::MountFailed, "mount '" + mount.name + "': " + e.what());
    }
}

}  // namespace megafuse::manager
