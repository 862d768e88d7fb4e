// GitCli: how the store runs the git program (network work: clone, ref refresh, batched blob
// fetch; and copying large blobs out, which libgit2 can only do in memory) and how URLs are
// redacted before anything is logged or thrown.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/Subprocess.hpp"
#include "store/ObjectId.hpp"

namespace megafuse::store {

// Runs `git -c protocol.version=2 <args...>` with GIT_TERMINAL_PROMPT=0 (a credential prompt
// would hang a reader) and LC_ALL=C (messages we show are stable), bounded by timeout.
SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::string stdinData = {});

// The same, handing each chunk of git's stderr to onStderr as it arrives (progress output).
SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::function<void(std::string_view chunk)> onStderr);

// The same with extra environment variables for git (e.g. GIT_CONFIG_COUNT/KEY/VALUE: settings
// that must not appear on git's command line, which /proc shows to every user).
SubprocessResult runGitWithEnvironment(const std::vector<std::string>& args,
                                       std::chrono::milliseconds timeout,
                                       std::map<std::string, std::string> environment);

// Writes the bytes of blob id, which must be in repository's object database, to fd with `git
// cat-file blob`: git streams a large blob, so its bytes never sit in this process's memory.
// Throws StoreError(Corrupt) when git fails or writes another size than expectedSize,
// StoreError(Timeout) after timeout.
void writeBlobWithGit(const std::filesystem::path& repository, const ObjectId& id,
                      uint64_t expectedSize, int fd, std::chrono::milliseconds timeout);

// What a finished `git push` of commit to remoteRef at `shown` (a redacted place) means: git's
// report (stderr + stdout, credentials redacted) on success; else StoreError Timeout,
// PushRejected (git's " ! [" lines: the server said no, its "remote:" lines quoted) or
// FetchFailed, each with that report. Returns the report.
std::string pushReport(const SubprocessResult& result, const ObjectId& commit,
                       const std::string& remoteRef, const std::string& shown);

// Replaces the user-info part of every "scheme://user:password@host" in text with "***", so
// credentials typed into a source URL never reach a log line, an error or describe().
std::string redactCredentials(std::string_view text);

}  // namespace megafuse::store
