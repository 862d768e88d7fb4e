// GitDaemon: git daemon runs in the foreground as our child, so its pid is ours to kill and wait.
#include "support/GitDaemon.hpp"

#include "support/Network.hpp"

namespace megafuse::test {

GitDaemon::GitDaemon(std::filesystem::path basePath, std::filesystem::path workDir)
    : basePath_(std::move(basePath)),
      workDir_(std::move(workDir)),
      logFile_(workDir_ / "git-daemon.log"),
      port_(freeLoopbackPort()) {
    std::filesystem::create_directories(workDir_);
    start();
}

GitDaemon::~GitDaemon() {
    stop();
}

std::string GitDaemon::url(const std::string& repositoryName) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + repositoryName;
}

bool GitDaemon::running() const {
    return process_ != nullptr;
}

void GitDaemon::start() {
    if (process_) {
        return;
    }
    ChildOptions options;
    options.argv = {"git",
                    "daemon",
                    "--reuseaddr",
                    "--base-path=" + basePath_.string(),
                    "--export-all",
                    "--enable=upload-pack",
                    "--enable=receive-pack",
                    "--informative-errors",
                    "--verbose",
                    "--listen=127.0.0.1",
                    "--port=" + std::to_string(port_),
                    "--pid-file=" + (workDir_ / "git-daemon.pid").string()};
    // Served repositories are configured by publishBare; no user config may change them.
    options.extraEnvironment = {{"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_CONFIG_GLOBAL", "/dev/null"}};
    options.logFile = logFile_;
    process_ = startLoopbackServer(options, port_, "git daemon", {logFile_});
}

void GitDaemon::stop() {
    stopLoopbackServer(process_, port_);
}

}  // namespace megafuse::test
