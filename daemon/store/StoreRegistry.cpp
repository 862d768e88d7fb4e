// StoreRegistry: the shared caches and one live store per source and fetch limits.
#include <map>
#include <mutex>
#include <string>

#include "common/Paths.hpp"
#include "store/ContentCache.hpp"
#include "store/GitObjectStore.hpp"
#include "store/Libgit2.hpp"
#include "store/MegaObjectStore.hpp"
#include "store/ObjectStore.hpp"
#include "store/TreeCache.hpp"

namespace megafuse::store {

struct StoreRegistry::Impl {
    // One slot per source ever opened: its own mutex makes a first clone single-flight without
    // blocking opens of other sources behind it.
    struct Slot {
        // Lock order: Impl::mutex is never held while a Slot::mutex is taken or held.
        std::mutex mutex;
        std::weak_ptr<ObjectStore> store;
    };

    StoreOptions options;
    std::shared_ptr<ContentCache> contentCache;
    std::shared_ptr<TreeCache> trees;
    // Lock order: a leaf (see Slot).
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<Slot>> slots;  // key: kind + location
};

StoreRegistry::StoreRegistry(StoreOptions options) : impl_(std::make_unique<Impl>()) {
    if (options.cacheDir.empty()) {
        options.cacheDir = defaultCacheDir();
    }
    impl_->options = std::move(options);
    applyLibgit2Limits(impl_->options);
    impl_->contentCache = std::make_shared<ContentCache>(impl_->options.cacheDir / "blobs",
                                                         impl_->options.contentCacheBytes);
    impl_->trees = std::make_shared<TreeCache>(impl_->options.treeCacheBytes);
}

StoreRegistry::~StoreRegistry() = default;

const StoreOptions& StoreRegistry::options() const {
    return impl_->options;
}

std::shared_ptr<ObjectStore> StoreRegistry::open(const SourceSpec& source, const Request& request) {
    StoreOptions options = impl_->options;
    options.fetchTimeout = request.fetchTimeout.value_or(options.fetchTimeout);
    options.fetchConcurrency = request.fetchConcurrency.value_or(options.fetchConcurrency);
    std::string key =
        (source.kind == SourceSpec::Kind::LocalRepository ? "local:" : "remote:") + source.location;
    if (source.kind == SourceSpec::Kind::Mega) {
        // One store per base URL + path (+ token: another token may see other content).
        key = "mega:" + source.location + "\n" + source.megaPath + "\n" + source.tokenFile.string();
    }
    // The fetch limits live in the store's fetch queue (BlobFetcher, HttpClient): mounts that
    // differ in them cannot share one.
    key += "\n" + std::to_string(options.fetchTimeout.count()) + "ms\n" +
           std::to_string(options.fetchConcurrency);
    std::shared_ptr<Impl::Slot> slot;
    {
        std::lock_guard lock(impl_->mutex);
        auto& entry = impl_->slots[key];
        if (!entry) {
            entry = std::make_shared<Impl::Slot>();
        }
        slot = entry;
    }
    std::lock_guard lock(slot->mutex);
    if (auto store = slot->store.lock()) {
        return store;
    }
    std::shared_ptr<ObjectStore> store;
    if (source.kind == SourceSpec::Kind::Mega) {
        store =
            std::make_shared<MegaObjectStore>(source, options, impl_->contentCache, impl_->trees);
    } else {
        // The store makes a first clone itself: it then knows the clone's refs are as fresh as
        // a refresh would make them, and its first resolve need not ask the server again.
        store = std::make_shared<GitObjectStore>(source, options, impl_->contentCache, impl_->trees,
                                                 request.cloneProgress);
    }
    slot->store = store;
    return store;
}

}  // namespace megafuse::store
