// GitCli: git invocation with a fixed environment, and credential redaction.
#include "store/GitCli.hpp"

namespace megafuse::store {

SubprocessResult runGit(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        std::string stdinData) {
    std::vector<std::string> argv = {"git", "-c", "protocol.version=2"};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.extraEnvironment = {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
    options.stdinData = std::move(stdinData);
    options.timeout = timeout;
    options.maxOutputBytes = 1U << 20U;  // git's chatter; ids we need are never on stdout
    return runSubprocess(argv, options);
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

}  // namespace megafuse::store
