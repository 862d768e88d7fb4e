// HttpGitServer: lighttpd hands the client's Git-Protocol header to CGI only as HTTP_GIT_PROTOCOL,
// but git-http-backend reads GIT_PROTOCOL; without it the server speaks protocol v0. A two-line
// wrapper script bridges the two so clients get protocol v2, which partial clone relies on.
#include "support/HttpGitServer.hpp"

#include <sys/stat.h>

#include <fstream>

#include "support/HarnessError.hpp"
#include "support/Network.hpp"

namespace megafuse::test {
namespace {

constexpr const char* kGitHttpBackend = "/usr/lib/git-core/git-http-backend";

void writeFile(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
        throw HarnessError("cannot write " + path.string());
    }
}

}  // namespace

HttpGitServer::HttpGitServer(std::filesystem::path projectRoot, std::filesystem::path workDir)
    : projectRoot_(std::move(projectRoot)),
      workDir_(std::move(workDir)),
      errorLog_(workDir_ / "lighttpd-error.log"),
      port_(freeLoopbackPort()) {
    std::filesystem::create_directories(workDir_ / "htdocs");
    writeConfig();
    start();
}

HttpGitServer::~HttpGitServer() {
    stop();
}

std::string HttpGitServer::url(const std::string& repositoryName) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/git/" + repositoryName;
}

void HttpGitServer::writeConfig() const {
    const auto wrapper = workDir_ / "git-http-backend.sh";
    writeFile(wrapper, std::string("#!/bin/sh\n") +
                           "# Protocol v2 for partial clone: see HttpGitServer.cpp.\n"
                           "export GIT_PROTOCOL=\"$HTTP_GIT_PROTOCOL\"\n"
                           "exec " +
                           kGitHttpBackend + "\n");
    ::chmod(wrapper.c_str(), 0755);
    const auto quoted = [](const std::filesystem::path& p) { return "\"" + p.string() + "\""; };
    writeFile(workDir_ / "lighttpd.conf",
              "server.modules = (\"mod_alias\", \"mod_cgi\", \"mod_setenv\")\n"
              "server.document-root = " +
                  quoted(workDir_ / "htdocs") +
                  "\n"
                  "server.bind = \"127.0.0.1\"\n"
                  "server.port = " +
                  std::to_string(port_) +
                  "\n"
                  "server.errorlog = " +
                  quoted(errorLog_) +
                  "\n"
                  "alias.url = (\"/git/\" => " +
                  quoted(wrapper.string() + "/") +
                  ")\n"
                  "$HTTP[\"url\"] =~ \"^/git/\" {\n"
                  "  cgi.assign = (\"\" => \"\")\n"
                  "  setenv.add-environment = (\n"
                  "    \"GIT_PROJECT_ROOT\" => " +
                  quoted(projectRoot_) +
                  ",\n"
                  "    \"GIT_HTTP_EXPORT_ALL\" => \"1\",\n"
                  "    \"GIT_CONFIG_NOSYSTEM\" => \"1\",\n"
                  "    \"GIT_CONFIG_GLOBAL\" => \"/dev/null\"\n"
                  "  )\n"
                  "}\n");
}

void HttpGitServer::start() {
    if (process_) {
        return;
    }
    ChildOptions options;
    options.argv = {"lighttpd", "-D", "-f", (workDir_ / "lighttpd.conf").string()};
    options.logFile = workDir_ / "lighttpd.log";
    process_ = startLoopbackServer(options, port_, "lighttpd", {options.logFile, errorLog_});
}

void HttpGitServer::stop() {
    stopLoopbackServer(process_, port_);
}

}  // namespace megafuse::test
