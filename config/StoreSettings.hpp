// StoreSettings: the object store's options from the config, so the daemon does not copy field by
// field. Uses only the StoreOptions struct (a header): megafuse_config never links libgit2.
#pragma once

#include "config/Config.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::config {

// The global budgets and fetch limits.
store::StoreOptions toStoreOptions(const GlobalSettings& global);

// What a mount asks of the registry: its fetch_timeout / fetch_concurrency, overrides applied
// (mounts of one source with equal values share a store; others get their own).
store::StoreRegistry::Request toStoreRequest(const GlobalSettings& global,
                                             const MountConfig& mount);

}  // namespace megafuse::config
