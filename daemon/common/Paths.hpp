// Paths: where mega-fuse keeps things, per the XDG base directory spec. One place decides, so the
// cache, state and config folders are the same for the daemon, megactl and the docs.
#pragma once

#include <filesystem>

namespace megafuse {

// $XDG_CACHE_HOME/mega-fuse (default ~/.cache/mega-fuse): partial clones and the content cache.
std::filesystem::path defaultCacheDir();
// $XDG_STATE_HOME/mega-fuse (default ~/.local/state/mega-fuse): overlays, mount state.
std::filesystem::path defaultStateDir();
// $XDG_CONFIG_HOME/mega-fuse (default ~/.config/mega-fuse): config.yaml.
std::filesystem::path defaultConfigDir();

// Creates dir and its parents with mode 0700 (content caches are private to the user).
void ensurePrivateDirectory(const std::filesystem::path& dir);

// "~" or "~/x" → $HOME/x; anything else unchanged.
std::filesystem::path expandHome(const std::string& path);

}  // namespace megafuse
