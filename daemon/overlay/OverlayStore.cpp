// PLACEHOLDER until the overlay helper lands the SQLite implementation.
#include "overlay/OverlayStore.hpp"

#include <cerrno>

namespace megafuse::overlay {

std::unique_ptr<OverlayStore> OverlayStore::open(const std::filesystem::path& dir) {
    throw OverlayError(ENOSYS, "overlay " + dir.string() + ": not implemented yet");
}

}  // namespace megafuse::overlay
