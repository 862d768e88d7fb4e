// MegaStandIn: tests/support/mega-standin.py — a STAND-IN for a Mega server written from Mega's
// published REST API, serving a real Git repository's objects — as a process on 127.0.0.1 that
// is stopped (by its PID's process group) in every outcome. Faults are switched at run time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/ChildProcess.hpp"

namespace megafuse::test {

class MegaStandIn {
public:
    // What a request answers with; set with setFault.
    enum class Fault {
        None,
        Slow,        // every answer waits `delay` seconds first
        Garbage,     // truncated tree objects, bad JSON, "garbage" blob bodies
        WrongBytes,  // bodies that do not hash to the id asked for
        NotFound,    // 404 for everything
    };

    // Serves repository (a bare or non-bare Git repository) at ref; logs into workDir. Starts at
    // once on a free port and waits until it answers; throws HarnessError with its log if not.
    // megaPath: the Mega path the repository's root is served as ("/": the whole monorepo);
    // any other path also serves Git's smart HTTP at {baseUrl}{megaPath}.git (fetch and push,
    // through `git http-backend`; the repository should be bare to take pushes).
    MegaStandIn(std::filesystem::path repository, std::filesystem::path workDir,
                std::string ref = "HEAD", std::string megaPath = "/");
    ~MegaStandIn();
    MegaStandIn(const MegaStandIn&) = delete;
    MegaStandIn& operator=(const MegaStandIn&) = delete;

    [[nodiscard]] uint16_t port() const { return port_; }
    // http://127.0.0.1:<port>
    [[nodiscard]] std::string baseUrl() const;

    void setFault(Fault fault, double delaySeconds = 0);
    // Serves another revision from now on (the upstream "moves").
    void setRef(const std::string& ref);
    // Requests without "Authorization: Bearer <token>" get 401; nullopt: no token needed.
    void requireToken(const std::optional<std::string>& token);
    // The next count API requests answer 503 (a server that is briefly overloaded).
    void failNext(int count);
    // Forgets the counters below.
    void resetStats();

    struct Stats {
        std::map<std::string, int> counts;  // endpoint path ("/api/v1/file/tree", ...) → requests
        std::vector<std::string> treePaths;      // path= of every tree request, in order
        std::vector<std::string> blobIds;        // every blob GET
        std::vector<std::string> authorization;  // Authorization header per request ("" if none)
        std::vector<int> pushedObjects;          // objects in each pack pushed to {path}.git
        [[nodiscard]] int count(const std::string& endpoint) const;
    };
    Stats stats();

    // Down and up again on the same port (a server that is unreachable for a while).
    void stop();
    void start();

private:
    std::string request(const std::string& method, const std::string& target,
                        const std::string& body);

    std::filesystem::path repository_;
    std::filesystem::path workDir_;
    std::string ref_;
    std::string megaPath_;
    uint16_t port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace megafuse::test
