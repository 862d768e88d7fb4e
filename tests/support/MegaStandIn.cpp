// MegaStandIn: the control channel is plain HTTP/1.0 over a loopback socket (the harness has no
// HTTP client library and needs none for three JSON requests); stats are parsed with yaml-cpp.
#include "support/MegaStandIn.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <system_error>

#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"
#include "support/Network.hpp"

namespace megafuse::test {
namespace {

std::filesystem::path scriptPath() {
    return MEGA_STANDIN_SCRIPT;
}

const char* faultName(MegaStandIn::Fault fault) {
    switch (fault) {
        case MegaStandIn::Fault::None:
            return "none";
        case MegaStandIn::Fault::Slow:
            return "slow";
        case MegaStandIn::Fault::Garbage:
            return "garbage";
        case MegaStandIn::Fault::WrongBytes:
            return "wrong-bytes";
        case MegaStandIn::Fault::NotFound:
            return "not-found";
    }
    return "none";
}

std::string jsonString(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

}  // namespace

MegaStandIn::MegaStandIn(std::filesystem::path repository, std::filesystem::path workDir,
                         std::string ref, std::string megaPath)
    : repository_(std::move(repository)),
      workDir_(std::move(workDir)),
      ref_(std::move(ref)),
      megaPath_(std::move(megaPath)),
      port_(freeLoopbackPort()) {
    std::filesystem::create_directories(workDir_);
    start();
}

MegaStandIn::~MegaStandIn() {
    stop();
}

std::string MegaStandIn::baseUrl() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

void MegaStandIn::start() {
    if (process_) {
        return;
    }
    ChildOptions options;
    options.argv = {"python3", scriptPath().string(),
                    "--repo",  repository_.string(),
                    "--ref",   ref_,
                    "--port",  std::to_string(port_),
                    "--path",  megaPath_};
    options.logFile = workDir_ / "mega-standin.log";
    process_ = startLoopbackServer(options, port_, "mega-standin", {options.logFile});
}

void MegaStandIn::stop() {
    stopLoopbackServer(process_, port_);
}

std::string MegaStandIn::request(const std::string& method, const std::string& target,
                                 const std::string& body) {
    UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{10, 0};
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (!sock || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw HarnessError("mega-standin: cannot connect: " +
                           std::generic_category().message(errno));
    }
    const std::string text = method + " " + target +
                             " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                             "Content-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::send(sock.get(), text.data(), text.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(text.size())) {
        throw HarnessError("mega-standin: cannot send a control request");
    }
    std::string answer;
    char buffer[4096];
    while (true) {
        ssize_t n = ::recv(sock.get(), buffer, sizeof buffer, 0);
        if (n <= 0) {
            break;
        }
        answer.append(buffer, static_cast<size_t>(n));
    }
    const size_t split = answer.find("\r\n\r\n");
    if (answer.rfind("HTTP/1.", 0) != 0 || answer.find(" 200 ") == std::string::npos ||
        split == std::string::npos) {
        throw HarnessError("mega-standin: " + method + " " + target +
                           " failed: " + answer.substr(0, 200));
    }
    return answer.substr(split + 4);
}

void MegaStandIn::setFault(Fault fault, double delaySeconds) {
    request("POST", "/_standin/control",
            std::string(R"({"fault": ")") + faultName(fault) + R"(", "delay": )" +
                std::to_string(delaySeconds) + "}");
}

void MegaStandIn::setRef(const std::string& ref) {
    ref_ = ref;
    request("POST", "/_standin/control", "{\"ref\": " + jsonString(ref) + "}");
}

void MegaStandIn::requireToken(const std::optional<std::string>& token) {
    request("POST", "/_standin/control",
            "{\"token\": " + (token ? jsonString(*token) : std::string("null")) + "}");
}

void MegaStandIn::failNext(int count) {
    request("POST", "/_standin/control", "{\"fail_next\": " + std::to_string(count) + "}");
}

void MegaStandIn::resetStats() {
    request("POST", "/_standin/control", "{\"reset\": true}");
}

int MegaStandIn::Stats::count(const std::string& endpoint) const {
    auto it = counts.find(endpoint);
    return it == counts.end() ? 0 : it->second;
}

MegaStandIn::Stats MegaStandIn::stats() {
    const YAML::Node root = YAML::Load(request("GET", "/_standin/stats", ""));
    Stats stats;
    for (const auto& item : root["counts"]) {
        stats.counts[item.first.as<std::string>()] = item.second.as<int>();
    }
    for (const auto& item : root["tree_paths"]) {
        stats.treePaths.push_back(item.as<std::string>());
    }
    for (const auto& item : root["blob_ids"]) {
        stats.blobIds.push_back(item.as<std::string>());
    }
    for (const auto& item : root["authorization"]) {
        stats.authorization.push_back(item.IsNull() ? "" : item.as<std::string>());
    }
    for (const auto& item : root["pushed_objects"]) {
        stats.pushedObjects.push_back(item.as<int>());
    }
    return stats;
}

}  // namespace megafuse::test
