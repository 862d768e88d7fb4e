// Network: loopback ports for the servers a test starts. A port is picked by binding port 0, so
// parallel test processes do not collide; a server counts as up once it accepts a connection.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/UniqueFd.hpp"
#include "support/ChildProcess.hpp"

namespace megafuse::test {

// The address 127.0.0.1:port, for bind/connect.
sockaddr_in loopback(uint16_t port);

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
uint16_t freeLoopbackPort();

// True once 127.0.0.1:port accepts a connection; false when timeout passes or stillAlive()
// turns false first (the server died: no point waiting).
bool waitUntilAccepting(uint16_t port, std::chrono::milliseconds timeout,
                        const std::function<bool()>& stillAlive);

// True when 127.0.0.1:port accepts a connection right now.
bool isAccepting(uint16_t port);

// A server a test runs on 127.0.0.1:port (git daemon, lighttpd, the Mega stand-in): spawns it and
// waits up to 15 s until the port accepts. Throws HarnessError naming the server, with the tail of
// each of its logs, when it dies or stays silent.
std::unique_ptr<ChildProcess> startLoopbackServer(const ChildOptions& options, uint16_t port,
                                                  const std::string& name,
                                                  const std::vector<std::filesystem::path>& logs);

// Stops a server started by startLoopbackServer (SIGTERM, 5 s grace) and resets the pointer; then
// waits up to 5 s until the port refuses connections, so a test's next step sees the outage.
// Does nothing when the pointer is empty.
void stopLoopbackServer(std::unique_ptr<ChildProcess>& process, uint16_t port);

// A server that accepts connections and never answers: what a hung peer looks like to a client.
// The kernel completes the handshakes (listen backlog), so a client blocks reading, not connecting.
class SilentListener {
public:
    // Listens on 127.0.0.1:port (SO_REUSEADDR, so right after a server on it stopped).
    explicit SilentListener(uint16_t port);

private:
    UniqueFd socket_;
};

}  // namespace megafuse::test
