// HandleTable: owner of the objects behind FUSE file handles (fi->fh). The kernel normally ends
// each with release/releasedir, but not when its connection is aborted or torn down with files
// open; the table then frees what is left (and closes its fds) when the filesystem goes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace megafuse::fs {

// Thread-safety: add/remove/size from any thread. get() takes no lock: the kernel never uses a
// handle after releasing it, so a handle is alive for every request that names it.
template <typename Handle>
class HandleTable {
public:
    // Takes ownership; returns the value for fi->fh (the object's address).
    uint64_t add(std::unique_ptr<Handle> handle) {
        Handle* raw = handle.get();
        std::lock_guard lock(mutex_);
        handles_.emplace(raw, std::move(handle));
        return reinterpret_cast<uint64_t>(raw);
    }

    static Handle& get(uint64_t fh) {
        // The NOLINT's reason: libfuse's fh is an integer by API; it carries the pointer above.
        return *reinterpret_cast<Handle*>(fh);  // NOLINT(performance-no-int-to-ptr)
    }

    // Destroys the handle (closing what it owns) outside the lock.
    void remove(uint64_t fh) {
        std::unique_ptr<Handle> dropped;
        {
            std::lock_guard lock(mutex_);
            auto it = handles_.find(&get(fh));
            if (it == handles_.end()) {
                return;
            }
            dropped = std::move(it->second);
            handles_.erase(it);
        }
    }

    [[nodiscard]] size_t size() const {
        std::lock_guard lock(mutex_);
        return handles_.size();
    }

private:
    mutable std::mutex mutex_;  // lock order: leaf
    std::unordered_map<const Handle*, std::unique_ptr<Handle>> handles_;
};

}  // namespace megafuse::fs
