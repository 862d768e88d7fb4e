// GitCli: git invocation with a fixed environment, and credential redaction.
#include "store/GitCli.hpp"

#include <sys/stat.h>

#include "store/StoreError.hpp"

namespace megafuse::store {

namespace {

SubprocessResult runGitWith(const std::vector<std::string>& args, SubprocessOptions options) {
    std::vector<std::string> argv = {"git", "-c", "protocol.version=2"};
    argv.insert(argv.end(), args.begin(), args.end());
    options.extraEnvironment.insert_or_assign("GIT_TERMINAL_PROMPT", "0");
    options.extraEnvironment.insert_or_assign("LC_ALL", "C");
    options.maxOutputBytes = 1U << 20U;  // git's chatter; ids we need are never on stdout
    return runSubprocess(argv, options);
}

}  // namespace

SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::string stdinData) {
    SubprocessOptions options;
    options.stdinData = std::move(stdinData);
    options.timeout = timeout;
    return runGitWith(args, std::move(options));
}

SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::function<void(std::string_view chunk)> onStderr) {
    SubprocessOptions options;
    options.timeout = timeout;
    options.onStderr = std::move(onStderr);
    return runGitWith(args, std::move(options));
}

SubprocessResult runGitWithEnvironment(const std::vector<std::string>& args,
                                       std::chrono::milliseconds timeout,
                                       std::map<std::string, std::string> environment) {
    SubprocessOptions options;
    options.timeout = timeout;
    options.extraEnvironment = std::move(environment);
    return runGitWith(args, std::move(options));
}

void writeBlobWithGit(const std::filesystem::path& repository, const ObjectId& id,
                      uint64_t expectedSize, int fd, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {"git",      "-C",   repository.string(),
                                     "cat-file", "blob", id.hex()};
    SubprocessOptions options;
    options.extraEnvironment = {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
    options.timeout = timeout;
    options.stdoutFd = fd;
    options.maxOutputBytes = 64U << 10U;  // stderr only
    const SubprocessResult result = runSubprocess(argv, options);
    const std::string what = "copy of blob " + id.hex() + " out of " + repository.string();
    if (!result.ok()) {
        throw StoreError(result.timedOut ? StoreErrc::Timeout : StoreErrc::Corrupt,
                         what + " failed: " + result.describe());
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != expectedSize) {
        throw StoreError(StoreErrc::Corrupt, what + " gave " + std::to_string(st.st_size) +
                                                 " bytes, not " + std::to_string(expectedSize));
    }
}

std::string redactCredentials(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
        size_t scheme = text.find("://", pos);
        if (scheme == std::string_view::npos) {
            break;
        }
        size_t authority = scheme + 3;
        size_t end = text.find_first_of("/ \t\r\n'\"", authority);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        out.append(text.substr(pos, authority - pos));
        std::string_view hostPart = text.substr(authority, end - authority);
        if (size_t at = hostPart.rfind('@'); at != std::string_view::npos) {
            out.append("***@");
            out.append(hostPart.substr(at + 1));
        } else {
            out.append(hostPart);
        }
        pos = end;
    }
    out.append(text.substr(std::min(pos, text.size())));
    return out;
}

std::string pushReport(const SubprocessResult& result, const ObjectId& commit,
                       const std::string& remoteRef, const std::string& shown) {
    std::string said = redactCredentials(result.err + result.out);
    if (result.ok()) {
        return said;
    }
    if (result.timedOut) {
        throw StoreError(StoreErrc::Timeout,
                         "push of " + commit.hex() + " to " + shown + ": " + result.describe());
    }
    const bool rejected = result.err.find(" ! [") != std::string::npos;
    throw StoreError(rejected ? StoreErrc::PushRejected : StoreErrc::FetchFailed,
                     "push of " + commit.hex() + " to " + remoteRef + " at " + shown +
                         (rejected ? " was rejected:\n" : " failed:\n") + said);
}

}  // namespace megafuse::store
