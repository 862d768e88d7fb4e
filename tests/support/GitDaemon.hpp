// GitDaemon: a real `git daemon` serving the bare repositories of one folder on 127.0.0.1, as a
// git:// server. It can be stopped and started again on the same port to simulate an outage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "support/ChildProcess.hpp"

namespace megafuse::test {

class GitDaemon {
public:
    // Serves basePath (repositories published there with publishBare); writes its log and pid
    // file into workDir. Starts at once; throws HarnessError (with the log) if it does not come up.
    GitDaemon(std::filesystem::path basePath, std::filesystem::path workDir);
    ~GitDaemon();
    GitDaemon(const GitDaemon&) = delete;
    GitDaemon& operator=(const GitDaemon&) = delete;

    [[nodiscard]] uint16_t port() const { return port_; }
    // git://127.0.0.1:<port>/<name>
    [[nodiscard]] std::string url(const std::string& repositoryName) const;
    [[nodiscard]] const std::filesystem::path& logFile() const { return logFile_; }

    // Kills the daemon (and its connection handlers) and waits until the port refuses.
    void stop();
    // Starts again on the same port (--reuseaddr); waits until it accepts.
    void start();
    [[nodiscard]] bool running() const;

private:
    std::filesystem::path basePath_;
    std::filesystem::path workDir_;
    std::filesystem::path logFile_;
    uint16_t port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace megafuse::test
