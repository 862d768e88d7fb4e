// ProgressBar: one self-rewriting line on stderr for long operations (clone, prefetch), fed by
// the daemon's Progress signals and State changes. Only on a terminal: piped output stays clean.
#pragma once

#include <cstdint>
#include <string>

#include "DaemonClient.hpp"

namespace megafuse::ctl {

class ProgressBar {
public:
    // enabled=false makes every call a no-op (not a terminal, or --json).
    explicit ProgressBar(bool enabled);
    // Erases the line, so what follows (result or error) starts at column 0.
    ~ProgressBar();
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    void update(const ProgressEvent& event);
    // A handler for DaemonClient's long calls, bound to this bar.
    ProgressHandler handler();

    // True when stderr is a terminal.
    static bool terminalAttached();

private:
    void clear();

    bool enabled_;
    bool drawn_ = false;
    unsigned spinner_ = 0;
};

}  // namespace megafuse::ctl
