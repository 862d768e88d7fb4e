// StoreSettings: the object store's options from the config, so the daemon does not copy field by
// field. Uses only the StoreOptions struct (a header): megafuse_config never links libgit2.
#pragma once

#include "config/Config.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::config {

// The global budgets and fetch limits.
store::StoreOptions toStoreOptions(const GlobalSettings& global);

// The same with mount's fetch_timeout / fetch_concurrency overrides applied. The store is shared
// by every mount of a source, so the daemon decides which mount's values a shared store gets.
store::StoreOptions toStoreOptions(const GlobalSettings& global, const MountConfig& mount);

}  // namespace megafuse::config
