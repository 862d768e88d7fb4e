// LiveView: what code that changes an overlay behind the kernel's back (the change set: reset,
// commit, checkout) needs from the live filesystem serving it. The writable filesystem implements
// it; a test without FUSE can implement it with a plain mutex.
#pragma once

#include <functional>

namespace megafuse::overlay {

class LiveView {
public:
    virtual ~LiveView() = default;
    // Runs fn while no FUSE handler reads or writes the overlay (they wait), then — fn's outcome
    // either way — makes the filesystem re-read the overlay (its base commit and root tree
    // included) and the kernel forget every name, attribute and page it cached, so readers see
    // the new state at once. Must not be called from a FUSE handler.
    virtual void mutateExclusively(const std::function<void()>& fn) = 0;
    // Runs fn while no FUSE handler mutates the overlay (a consistent snapshot for changes,
    // diff and commit). Open files may still be written through their fds: fsync'd state is
    // what counts.
    virtual void readConsistently(const std::function<void()>& fn) = 0;
};

}  // namespace megafuse::overlay
