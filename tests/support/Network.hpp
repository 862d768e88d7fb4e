// Network: loopback ports for the servers a test starts. A port is picked by binding port 0, so
// parallel test processes do not collide; a server counts as up once it accepts a connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/UniqueFd.hpp"

namespace megafuse::test {

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
uint16_t freeLoopbackPort();

// True once 127.0.0.1:port accepts a connection; false when timeout passes or stillAlive()
// turns false first (the server died: no point waiting).
bool waitUntilAccepting(uint16_t port, std::chrono::milliseconds timeout,
                        const std::function<bool()>& stillAlive);

// True when 127.0.0.1:port accepts a connection right now.
bool isAccepting(uint16_t port);

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
