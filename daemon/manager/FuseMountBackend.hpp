// FuseMountBackend: the real MountBackend — a store from the StoreRegistry (one per source,
// shared), the revision resolved to a tree, an fs::Filesystem served by an fs::FuseMount.
#pragma once

#include <memory>

#include "config/Config.hpp"
#include "manager/MountBackend.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::manager {

class FuseMountBackend final : public MountBackend {
public:
    // global: budgets and timeouts for the StoreRegistry (owned here, shared by every mount).
    explicit FuseMountBackend(const config::GlobalSettings& global);

    std::unique_ptr<ActiveMount> mount(const config::MountConfig& mount,
                                       const ProgressFn& progress) override;

private:
    config::GlobalSettings global_;
    store::StoreRegistry registry_;
};

}  // namespace megafuse::manager
