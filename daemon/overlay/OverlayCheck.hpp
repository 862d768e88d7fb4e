// OverlayCheck: the overlay's own consistency check, as fsck is a filesystem's — run on an overlay
// no daemon has open (after a crash, before a restart) to prove recovery left it whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace megafuse::overlay {

struct OverlayCheckReport {
    std::vector<std::string> problems;  // one line each, naming the node or file; empty: whole
    uint64_t nodes = 0;                 // overlay nodes reachable from the root (root included)
    uint64_t fileNodes = 0;
    uint64_t directoryNodes = 0;

    [[nodiscard]] bool ok() const { return problems.empty(); }
};

// Opens the overlay in dir the way a restarting daemon does (OverlayStore::open, so its crash
// recovery runs first), then checks what recovery promises: SQLite's integrity_check passes;
// every node an entry names exists and is named once; every node is reachable from the root (no
// leaked subtree); every file node has a content file and files/ holds nothing else. Throws
// OverlayError when the overlay cannot be opened at all.
OverlayCheckReport checkOverlay(const std::filesystem::path& dir);

}  // namespace megafuse::overlay
