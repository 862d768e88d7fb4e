// UploadPackSession: one long-lived protocol-v2 connection to a git:// server's upload-pack that
// serves many `fetch` commands, so a blob round does not pay for a new connection each time.
//
// Why: a `git fetch --stdin` round against git daemon on loopback cost ~60 ms whatever the number
// of blobs (20..140), of which 52-57 ms were git daemon's per-connection start (fork + exec of
// upload-pack); the server's pack-objects for a directory's 28 blobs took 10 ms, the client's
// index-pack 7 ms (measured 2026-11-25, load 0.6). upload-pack v2 serves commands in a loop on one
// connection until the client sends a flush-only request or closes (serve.c, non-stateless), so a
// round over a kept connection costs ~20 ms. Only git:// is spoken here: file:// and http(s)://
// sources keep using git fetch.
//
// Threads: owned by one thread (a BlobFetcher worker); no locking. Every socket read and write and
// the index-pack run are bounded by the caller's deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/UniqueFd.hpp"
#include "store/ObjectId.hpp"

namespace megafuse::store {

// Where a git:// URL points: git://host[:port]/path, git://[v6]:port/path.
struct GitDaemonAddress {
    std::string host;         // without brackets, for getaddrinfo
    uint16_t port = 9418;     // git daemon's default
    std::string path;         // "/repo.git", sent as is (git does not decode %xx either)
    std::string hostAndPort;  // as written in the URL, for the request's host= parameter

    // nullopt for other schemes (file://, http(s)://, ssh) and malformed git:// URLs.
    static std::optional<GitDaemonAddress> parse(std::string_view url);
};

class UploadPackSession {
public:
    using Clock = std::chrono::steady_clock;

    // Connects, sends the git-upload-pack request asking for protocol v2 and reads the
    // capability advertisement. Throws StoreError: Timeout when deadline passes, Unsupported when
    // the server does not speak v2 or cannot filter (no point retrying), FetchFailed otherwise.
    // repository is the partial clone index-pack writes into; sourceName names it in messages.
    UploadPackSession(const GitDaemonAddress& address, std::filesystem::path repository,
                      std::string sourceName, Clock::time_point deadline);
    // Ends the conversation with a flush-only request (upload-pack then exits), best effort.
    ~UploadPackSession();
    UploadPackSession(const UploadPackSession&) = delete;
    UploadPackSession& operator=(const UploadPackSession&) = delete;

    // Sends one fetch command for ids (filter blob:none, no negotiation: wants then done) and
    // indexes the pack it answers with into the clone (a .promisor pack, as git fetch writes for
    // a promisor remote). Throws StoreError: Timeout when deadline passes, FetchFailed with the
    // server's text (ERR, band 3) or a transport/protocol fault. After a throw the session is
    // out of step with the server: the caller must drop it.
    void fetch(const std::vector<ObjectId>& ids, Clock::time_point deadline);

    // True when the server closed the connection while it was idle (or sent something unasked):
    // checked before reuse, so a restarted server costs no failed round.
    [[nodiscard]] bool peerClosed() const;
    [[nodiscard]] Clock::time_point lastUsed() const { return lastUsed_; }

private:
    enum class PacketKind { Data, Flush, Delim, ResponseEnd };

    void connectTo(const GitDaemonAddress& address, Clock::time_point deadline);
    void readCapabilities(Clock::time_point deadline);
    void writeAll(const std::string& bytes, Clock::time_point deadline);
    // Fills packet_ with the next pkt-line's payload.
    PacketKind readPacket(Clock::time_point deadline);
    void readExact(char* out, size_t size, Clock::time_point deadline);
    void waitFor(short events, Clock::time_point deadline, const char* doing);
    void indexPack(const UniqueFd& pack, Clock::time_point deadline);
    [[noreturn]] void fail(const std::string& what) const;

    std::filesystem::path repository_;
    std::string sourceName_;
    UniqueFd socket_;
    bool objectFormatAdvertised_ = false;
    std::string packet_;            // the last packet's payload
    std::vector<char> readBuffer_;  // bytes received, not yet consumed
    size_t readStart_ = 0;
    size_t readEnd_ = 0;
    Clock::time_point lastUsed_;
};

}  // namespace megafuse::store
