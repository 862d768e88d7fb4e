// GitCli: how the store runs the git program (network work only: clone, ref refresh, batched
// blob fetch) and how URLs are redacted before anything is logged or thrown.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/Subprocess.hpp"

namespace megafuse::store {

// Runs `git -c protocol.version=2 <args...>` with GIT_TERMINAL_PROMPT=0 (a credential prompt
// would hang a reader) and LC_ALL=C (messages we show are stable), bounded by timeout.
SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::string stdinData = {});

// Replaces the user-info part of every "scheme://user:password@host" in text with "***", so
// credentials typed into a source URL never reach a log line, an error or describe().
std::string redactCredentials(std::string_view text);

}  // namespace megafuse::store
