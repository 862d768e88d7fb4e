// HttpGitServer: Git smart HTTP on 127.0.0.1 — a real lighttpd running git-http-backend as CGI,
// serving the bare repositories of one folder at http://127.0.0.1:<port>/git/<name>.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "support/ChildProcess.hpp"

namespace megafuse::test {

class HttpGitServer {
public:
    // Serves projectRoot; writes its config, CGI wrapper and logs into workDir. Starts at once;
    // throws HarnessError (with lighttpd's log) if it does not come up.
    HttpGitServer(std::filesystem::path projectRoot, std::filesystem::path workDir);
    ~HttpGitServer();
    HttpGitServer(const HttpGitServer&) = delete;
    HttpGitServer& operator=(const HttpGitServer&) = delete;

    [[nodiscard]] uint16_t port() const { return port_; }
    // http://127.0.0.1:<port>/git/<name>
    [[nodiscard]] std::string url(const std::string& repositoryName) const;
    [[nodiscard]] const std::filesystem::path& errorLog() const { return errorLog_; }

    void stop();
    void start();

private:
    void writeConfig() const;

    std::filesystem::path projectRoot_;
    std::filesystem::path workDir_;
    std::filesystem::path errorLog_;
    uint16_t port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace megafuse::test
