// MountCommand: the foreground mount's lifecycle. Slow preparation (a first clone, resolving a
// remote ref) runs on a worker thread so SIGINT/SIGTERM still end the process at once.
#include "core/MountCommand.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "common/Paths.hpp"
#include "fs/Filesystem.hpp"
#include "fs/FuseMount.hpp"
#include "fs/TreeRefresher.hpp"
#include "fs/WritableFilesystem.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::core {
namespace {

// strsignal is not thread-safe; these are the signals the command waits for.
std::string signalName(int signal) {
    switch (signal) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        default:
            return "signal " + std::to_string(signal);
    }
}

// A reason nothing could be mounted; what() is the line printed after "mega-fused: ".
class NotMounted : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Prepared {
    std::shared_ptr<store::ObjectStore> store;
    store::ObjectId commit;
    store::ObjectId tree;
    int64_t commitTime = 0;
};

// Everything that can fail before mounting, so a failure mounts nothing. Store messages already
// name the source and the revision or path ("unknown revision 'nope' in /path/repo").
Prepared prepare(store::StoreRegistry& registry, const store::SourceSpec& source,
                 const MountCommandOptions& options) {
    try {
        Prepared prepared;
        prepared.store = registry.open(source);
        prepared.commit = prepared.store->resolveCommit(options.revision);
        prepared.tree = prepared.store->treeAtPath(prepared.commit, options.subPath);
        prepared.commitTime = prepared.store->commitTime(prepared.commit);
        return prepared;
    } catch (const store::StoreError& e) {
        throw NotMounted(e.what());
    }
}

// Runs prepare on a worker thread while the main thread watches for signals. A signal before the
// mount exists ends the process at once: there is nothing to clean up, and a clone in progress
// is bounded by the store's own timeout.
Prepared prepareInterruptibly(store::StoreRegistry& registry, const store::SourceSpec& source,
                              const MountCommandOptions& options, SignalFd& signals) {
    auto pending =
        std::async(std::launch::async, [&] { return prepare(registry, source, options); });
    while (pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        pollfd pfd{signals.fd(), POLLIN, 0};
        ::poll(&pfd, 1, 100);
        if (auto signal = signals.takePending()) {
            (void)std::fprintf(stderr, "mega-fused: interrupted (%s) before mounting\n",
                               signalName(*signal).c_str());
            (void)std::fflush(stderr);
            std::_Exit(128 + *signal);  // skips joining the worker: it may be inside a clone
        }
    }
    return pending.get();
}

std::filesystem::path usableMountpoint(const std::filesystem::path& given) {
    const std::filesystem::path absolute = std::filesystem::absolute(given).lexically_normal();
    try {
        fs::FuseMount::clearStaleMount(absolute);
    } catch (const fs::MountError& e) {
        throw NotMounted(e.what());
    }
    std::error_code ec;
    std::filesystem::path canonical = std::filesystem::canonical(absolute, ec);
    if (ec) {
        throw NotMounted("mount point " + absolute.string() + ": " + ec.message());
    }
    if (!std::filesystem::is_directory(canonical, ec)) {
        throw NotMounted("mount point " + canonical.string() + " is not a directory");
    }
    return canonical;
}

// Blocks until a signal arrives or the mount ends by itself; says which in the log.
void serveUntilDone(fs::FuseMount& mount, SignalFd& signals) {
    for (;;) {
        pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {mount.loopEndedFd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::system_error(errno, std::generic_category(), "poll");
        }
        if (auto signal = signals.takePending()) {
            spdlog::info("{}: {}, unmounting", mount.mountpoint().string(), signalName(*signal));
            return;
        }
        if (mount.loopEnded()) {
            spdlog::info("{}: unmounted from outside", mount.mountpoint().string());
            return;
        }
    }
}

// The base of a writable mount: the overlay's own base commit when it has one.
void chooseWritableBase(Prepared& prepared, overlay::OverlayStore& overlay,
                        const MountCommandOptions& options) {
    const std::optional<store::ObjectId> kept = overlay.baseCommit();
    if (!kept) {
        overlay.setBaseCommit(prepared.commit);
        return;
    }
    if (*kept != prepared.commit) {
        spdlog::info("overlay {} is based on {}, not on {} ({}); keeping its base",
                     overlay.directory().string(), kept->hex(), options.revision,
                     prepared.commit.hex());
    }
    try {
        prepared.commit = *kept;
        prepared.tree = prepared.store->treeAtPath(prepared.commit, options.subPath);
        prepared.commitTime = prepared.store->commitTime(prepared.commit);
    } catch (const store::StoreError& e) {
        throw NotMounted("overlay " + overlay.directory().string() + ": base commit " +
                         kept->hex() + ": " + e.what());
    }
}

}  // namespace

std::filesystem::path defaultOverlayDir(const std::filesystem::path& mountpoint) {
    // FNV-1a: stable across runs and builds, unlike std::hash.
    uint32_t hash = 2166136261U;
    for (const char c : mountpoint.string()) {
        hash = (hash ^ static_cast<uint8_t>(c)) * 16777619U;
    }
    char name[32];
    (void)std::snprintf(name, sizeof name, "mount-%08x", hash);
    return defaultStateDir() / "overlays" / name;
}

int runMountCommand(const MountCommandOptions& options, SignalFd& signals) {
    store::StoreOptions storeOptions;
    storeOptions.cacheDir = options.cacheDir.value_or(defaultCacheDir());
    if (options.contentCacheBytes) {
        storeOptions.contentCacheBytes = *options.contentCacheBytes;
    }
    if (options.treeCacheBytes) {
        storeOptions.treeCacheBytes = *options.treeCacheBytes;
    }
    storeOptions.fetchTimeout = std::chrono::seconds(options.fetchTimeoutSeconds);

    // Declared in teardown order: the mount stops before the filesystem it calls into goes, and
    // the filesystem before the store and the registry that owns the shared caches.
    std::unique_ptr<store::StoreRegistry> registry;
    Prepared prepared;
    std::unique_ptr<overlay::OverlayStore> overlay;
    std::optional<fs::Filesystem> filesystem;
    std::optional<fs::WritableFilesystem> writableFilesystem;
    std::optional<fs::FuseMount> mount;
    std::optional<fs::TreeRefresher> refresher;
    store::SourceSpec source;
    std::filesystem::path mountpoint;
    try {
        try {
            source = store::SourceSpec::parse(options.source);
        } catch (const store::StoreError& e) {
            throw NotMounted(e.what());
        }
        if (options.tokenFile) {
            if (source.kind != store::SourceSpec::Kind::Mega) {
                throw NotMounted("--token-file is for mega+http(s):// sources only");
            }
            source.tokenFile = std::filesystem::absolute(*options.tokenFile);
        }
        mountpoint = usableMountpoint(options.mountpoint);
        registry = std::make_unique<store::StoreRegistry>(storeOptions);
        prepared = prepareInterruptibly(*registry, source, options, signals);

        fs::MountOptions mountOptions;
        mountOptions.mountpoint = mountpoint;
        mountOptions.allowOther = options.allowOther;
        mountOptions.readOnly = !options.writable;
        if (options.writable) {
            const std::filesystem::path overlayDir = std::filesystem::absolute(
                options.overlayDir.value_or(defaultOverlayDir(mountpoint)));
            try {
                overlay = overlay::OverlayStore::open(overlayDir);
            } catch (const overlay::OverlayError& e) {
                throw NotMounted(e.what());
            }
            chooseWritableBase(prepared, *overlay, options);
            writableFilesystem.emplace(prepared.store, *overlay, options.subPath,
                                       fs::WritableFsOptions{});
        } else {
            fs::FsOptions fsOptions;
            fsOptions.reportedCapacityBytes = storeOptions.contentCacheBytes;
            filesystem.emplace(prepared.store, prepared.tree, prepared.commitTime, fsOptions);
        }
        try {
            if (writableFilesystem) {
                mount.emplace(fs::WritableFilesystem::operations(), &*writableFilesystem,
                              mountOptions);
                writableFilesystem->attachSession(mount->session());
            } else {
                mount.emplace(*filesystem, mountOptions);
                // Only a Mega path at HEAD moves; a pinned revision never changes.
                if (source.kind == store::SourceSpec::Kind::Mega &&
                    options.refreshIntervalSeconds > 0 &&
                    (options.revision.empty() || options.revision == "HEAD")) {
                    refresher.emplace(*filesystem, mount->session(), options.subPath,
                                      std::chrono::seconds(options.refreshIntervalSeconds),
                                      mountpoint.string());
                }
            }
        } catch (const fs::MountError& e) {
            throw NotMounted(e.what());
        }
    } catch (const std::exception& e) {  // NotMounted, or e.g. a cache folder not writable
        (void)std::fprintf(stderr, "mega-fused: %s\n", e.what());
        return kExitUsage;
    }
    spdlog::info("mounted {} {} ({}) at {}{}", source.location, options.revision,
                 prepared.commit.hex(), mountpoint.string(),
                 overlay ? " writable, overlay " + overlay->directory().string() : "");

    serveUntilDone(*mount, signals);
    refresher.reset();
    if (writableFilesystem) {
        writableFilesystem->attachSession(nullptr);
    }
    if (!mount->stop()) {
        // The unmount is done; only files still open keep the kernel connection. It ends with
        // this process (closing /dev/fuse aborts it), which no destructor can wait for.
        spdlog::warn("{}: exiting with files still open in the detached mount",
                     mountpoint.string());
        spdlog::shutdown();
        std::_Exit(kExitOk);
    }
    spdlog::info("unmounted {}", mountpoint.string());
    return kExitOk;
}

}  // namespace megafuse::core
