// FuzzCheck: how a fuzz target states an invariant. A broken one prints what broke and aborts,
// which libFuzzer records as a crash and keeps the input for (crash-<sha1> in the run folder).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace megafuse::fuzz {

inline void require(bool holds, std::string_view invariant, std::string_view detail = {}) {
    if (!holds) {
        std::fprintf(stderr, "fuzz invariant broken: %.*s\n  %.*s\n",
                     static_cast<int>(invariant.size()), invariant.data(),
                     static_cast<int>(detail.size()), detail.data());
        std::abort();
    }
}

}  // namespace megafuse::fuzz
