// UploadPackSession: pkt-lines over a non-blocking socket, each wait a poll bounded by the
// caller's deadline; the pack goes through an unlinked temp file into git index-pack.
#include "store/UploadPackSession.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "common/Subprocess.hpp"
#include "store/StoreError.hpp"

namespace megafuse::store {
namespace {

// pkt-line limits (gitprotocol-common): 4 hex digits of length including themselves, at most
// 65520 in all; 0000 flush, 0001 delim, 0002 response-end.
constexpr size_t kMaxPacketBytes = 65520;
constexpr size_t kPacketHeaderBytes = 4;
constexpr size_t kReadBufferBytes = 65536;

// strerror is not thread-safe: every fetch worker owns a session.
std::string errnoText(int error) {
    return std::generic_category().message(error);
}

std::string packetLine(std::string_view payload) {
    static constexpr char kHex[] = "0123456789abcdef";
    const size_t length = payload.size() + kPacketHeaderBytes;  // <= kMaxPacketBytes by callers
    std::string line(kPacketHeaderBytes, '0');
    for (size_t i = 0; i < kPacketHeaderBytes; ++i) {
        line[kPacketHeaderBytes - 1 - i] = kHex[(length >> (4 * i)) & 0xfU];
    }
    line += payload;
    return line;
}

std::string_view trimNewline(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

int millisecondsLeft(UploadPackSession::Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - UploadPackSession::Clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX));
}

}  // namespace

std::optional<GitDaemonAddress> GitDaemonAddress::parse(std::string_view url) {
    constexpr std::string_view kScheme = "git://";
    if (url.substr(0, kScheme.size()) != kScheme) {
        return std::nullopt;
    }
    url.remove_prefix(kScheme.size());
    const size_t slash = url.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == url.size()) {
        return std::nullopt;
    }
    GitDaemonAddress address;
    address.hostAndPort = std::string(url.substr(0, slash));
    address.path = std::string(url.substr(slash));
    std::string_view hostPort = url.substr(0, slash);
    if (hostPort.find('@') != std::string_view::npos) {
        return std::nullopt;  // git:// carries no credentials; leave odd forms to git
    }
    std::string_view portText;
    if (hostPort.front() == '[') {
        const size_t close = hostPort.find(']');
        if (close == std::string_view::npos || close == 1) {
            return std::nullopt;
        }
        address.host = std::string(hostPort.substr(1, close - 1));
        std::string_view rest = hostPort.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            portText = rest.substr(1);
        }
    } else {
        const size_t colon = hostPort.find(':');
        address.host = std::string(hostPort.substr(0, colon));
        if (colon != std::string_view::npos) {
            portText = hostPort.substr(colon + 1);
        }
    }
    if (address.host.empty()) {
        return std::nullopt;
    }
    if (!portText.empty()) {
        unsigned port = 0;
        auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
        if (ec != std::errc() || end != portText.data() + portText.size() || port == 0 ||
            port > UINT16_MAX) {
            return std::nullopt;
        }
        address.port = static_cast<uint16_t>(port);
    }
    return address;
}

UploadPackSession::UploadPackSession(const GitDaemonAddress& address,
                                     std::filesystem::path repository, std::string sourceName,
                                     Clock::time_point deadline)
    : repository_(std::move(repository)),
      sourceName_(std::move(sourceName)),
      readBuffer_(kReadBufferBytes),
      lastUsed_(Clock::now()) {
    connectTo(address, deadline);
    // git's own request (connect.c): the host parameter as written in the URL, then the extra
    // parameter asking for protocol v2 after an empty one.
    std::string request = "git-upload-pack " + address.path;
    request += '\0';
    request += "host=" + address.hostAndPort;
    request += '\0';
    request += '\0';
    request += "version=2";
    request += '\0';
    if (request.size() + kPacketHeaderBytes > kMaxPacketBytes) {
        throw StoreError(StoreErrc::Unsupported,
                         "upload-pack session with " + sourceName_ + ": path too long");
    }
    writeAll(packetLine(request), deadline);
    readCapabilities(deadline);
}

UploadPackSession::~UploadPackSession() {
    // A flush-only request ends upload-pack's serve loop; if the socket buffer is full the
    // close alone does the same (upload-pack sees EOF).
    static constexpr char kFlush[] = "0000";
    (void)::send(socket_.get(), kFlush, kPacketHeaderBytes, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void UploadPackSession::fail(const std::string& what) const {
    throw StoreError(StoreErrc::FetchFailed,
                     "upload-pack session with " + sourceName_ + ": " + what);
}

void UploadPackSession::connectTo(const GitDaemonAddress& address, Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    // Name lookup is not bounded by the deadline (getaddrinfo blocks); a numeric host needs
    // none, a name costs what git's own connect would.
    const std::string port = std::to_string(address.port);
    if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        fail("cannot resolve " + address.host + ": " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
    std::string lastError = "no address";
    for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             ai->ai_protocol));
        if (!fd) {
            lastError = errnoText(errno);
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                lastError = errnoText(errno);
                continue;
            }
            pollfd p{fd.get(), POLLOUT, 0};
            int n = 0;
            while ((n = ::poll(&p, 1, millisecondsLeft(deadline))) < 0 && errno == EINTR) {
            }
            if (n == 0) {
                throw StoreError(StoreErrc::Timeout,
                                 "upload-pack session with " + sourceName_ + ": connect timed out");
            }
            int error = 0;
            socklen_t length = sizeof error;
            if (n < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 ||
                error != 0) {
                lastError = errnoText(n < 0 ? errno : error);
                continue;
            }
        }
        socket_ = std::move(fd);
        return;
    }
    fail("cannot connect to " + address.hostAndPort + ": " + lastError);
}

void UploadPackSession::waitFor(short events, Clock::time_point deadline, const char* doing) {
    pollfd p{socket_.get(), events, 0};
    while (true) {
        const int left = millisecondsLeft(deadline);
        if (left == 0) {
            throw StoreError(StoreErrc::Timeout,
                             "upload-pack session with " + sourceName_ + ": timed out " + doing);
        }
        int n = ::poll(&p, 1, left);
        if (n > 0) {
            return;  // ready, or an error the next send/recv reports
        }
        if (n < 0 && errno != EINTR) {
            fail(std::string("poll: ") + errnoText(errno));
        }
    }
}

void UploadPackSession::writeAll(const std::string& bytes, Clock::time_point deadline) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t put = ::send(socket_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (put > 0) {
            sent += static_cast<size_t>(put);
        } else if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            waitFor(POLLOUT, deadline, "sending");
        } else if (put < 0 && errno != EINTR) {
            fail(std::string("send: ") + errnoText(errno));
        }
    }
}

void UploadPackSession::readExact(char* out, size_t size, Clock::time_point deadline) {
    while (size > 0) {
        if (readStart_ == readEnd_) {
            readStart_ = readEnd_ = 0;
            ssize_t got = ::recv(socket_.get(), readBuffer_.data(), readBuffer_.size(), 0);
            if (got > 0) {
                readEnd_ = static_cast<size_t>(got);
            } else if (got == 0) {
                fail("the server closed the connection");
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                waitFor(POLLIN, deadline, "waiting for the server");
                continue;
            } else if (errno != EINTR) {
                fail(std::string("recv: ") + errnoText(errno));
            }
            continue;
        }
        const size_t take = std::min(size, readEnd_ - readStart_);
        std::memcpy(out, readBuffer_.data() + readStart_, take);
        readStart_ += take;
        out += take;
        size -= take;
    }
}

UploadPackSession::PacketKind UploadPackSession::readPacket(Clock::time_point deadline) {
    char header[kPacketHeaderBytes];
    readExact(header, sizeof header, deadline);
    size_t length = 0;
    auto [end, ec] = std::from_chars(header, header + sizeof header, length, 16);
    if (ec != std::errc() || end != header + sizeof header) {
        fail("bad pkt-line length '" + std::string(header, sizeof header) + "'");
    }
    switch (length) {
        case 0:
            return PacketKind::Flush;
        case 1:
            return PacketKind::Delim;
        case 2:
            return PacketKind::ResponseEnd;
        default:
            break;
    }
    if (length < kPacketHeaderBytes || length > kMaxPacketBytes) {
        fail("bad pkt-line length " + std::to_string(length));
    }
    packet_.resize(length - kPacketHeaderBytes);
    readExact(packet_.data(), packet_.size(), deadline);
    return PacketKind::Data;
}

void UploadPackSession::readCapabilities(Clock::time_point deadline) {
    bool versionSeen = false;
    bool filterableFetch = false;
    while (readPacket(deadline) == PacketKind::Data) {
        std::string_view line = trimNewline(packet_);
        if (line.substr(0, 4) == "ERR ") {
            fail("server: " + std::string(line.substr(4)));
        }
        if (!versionSeen) {
            if (line != "version 2") {
                // A v0/v1 ref advertisement: the server ignored version=2 (old git, or
                // protocol.version=0 on its side). git fetch still works with it.
                throw StoreError(StoreErrc::Unsupported, "upload-pack session with " + sourceName_ +
                                                             ": server does not speak protocol v2");
            }
            versionSeen = true;
            continue;
        }
        const size_t eq = line.find('=');
        const std::string_view key = line.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view() : line.substr(eq + 1);
        if (key == "fetch") {
            // Space-separated features; filter means uploadpack.allowFilter is on.
            size_t at = 0;
            while (at <= value.size()) {
                size_t space = value.find(' ', at);
                if (value.substr(at, space - at) == "filter") {
                    filterableFetch = true;
                }
                if (space == std::string_view::npos) {
                    break;
                }
                at = space + 1;
            }
        } else if (key == "object-format") {
            if (value != "sha1") {
                throw StoreError(StoreErrc::Unsupported, "upload-pack session with " + sourceName_ +
                                                             ": object format " +
                                                             std::string(value) + " not supported");
            }
            objectFormatAdvertised_ = true;
        }
    }
    if (!versionSeen || !filterableFetch) {
        throw StoreError(StoreErrc::Unsupported, "upload-pack session with " + sourceName_ +
                                                     ": server's fetch cannot filter blobs");
    }
}

bool UploadPackSession::peerClosed() const {
    if (readStart_ != readEnd_) {
        return true;  // bytes nobody asked for: out of step
    }
    pollfd p{socket_.get(), POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) != 0;
}

void UploadPackSession::fetch(const std::vector<ObjectId>& ids, Clock::time_point deadline) {
    std::string request = packetLine("command=fetch\n") + packetLine("agent=mega-fuse\n");
    if (objectFormatAdvertised_) {
        request += packetLine("object-format=sha1\n");
    }
    request += "0001";
    request +=
        packetLine("ofs-delta\n") + packetLine("no-progress\n") + packetLine("filter blob:none\n");
    for (const ObjectId& id : ids) {
        request += packetLine("want " + id.hex() + "\n");
    }
    request += packetLine("done\n");
    request += "0000";
    writeAll(request, deadline);

    // With done sent there is no acknowledgments section: the answer is the packfile section.
    if (readPacket(deadline) != PacketKind::Data) {
        fail("empty answer to fetch");
    }
    if (std::string_view line = trimNewline(packet_); line.substr(0, 4) == "ERR ") {
        fail("server: " + std::string(line.substr(4)));
    }
    if (trimNewline(packet_) != "packfile") {
        fail("unexpected section '" + std::string(trimNewline(packet_).substr(0, 80)) + "'");
    }

    // The pack goes to a file, not to memory (a blob may be hundreds of MB), and index-pack
    // reads that file after the server finished: the socket never waits on index-pack. The file
    // is unlinked at once, so a crash leaves nothing behind in the clone.
    std::string name = (repository_ / "objects" / "pack" / "tmp_megafuse_XXXXXX").string();
    UniqueFd pack(::mkostemp(name.data(), O_CLOEXEC));
    if (!pack) {
        fail("cannot create a temp file in " + repository_.string() + ": " + errnoText(errno));
    }
    ::unlink(name.c_str());
    while (readPacket(deadline) == PacketKind::Data) {
        if (packet_.empty()) {
            fail("side-band packet without a band");
        }
        const auto band = static_cast<unsigned char>(packet_[0]);
        if (band == 1) {
            std::string_view bytes(packet_.data() + 1, packet_.size() - 1);
            while (!bytes.empty()) {
                ssize_t put = ::write(pack.get(), bytes.data(), bytes.size());
                if (put < 0 && errno == EINTR) {
                    continue;
                }
                if (put <= 0) {
                    throw StoreError(StoreErrc::Io, "upload-pack session with " + sourceName_ +
                                                        ": writing the pack: " + errnoText(errno));
                }
                bytes.remove_prefix(static_cast<size_t>(put));
            }
        } else if (band == 3) {
            fail("server: " + std::string(trimNewline(std::string_view(packet_).substr(1))));
        } else if (band != 2) {  // 2: progress, which no-progress mostly silences
            if (trimNewline(packet_).substr(0, 4) == "ERR ") {
                fail("server: " + std::string(trimNewline(packet_).substr(4)));
            }
            fail("unknown side-band " + std::to_string(band));
        }
    }
    indexPack(pack, deadline);
    lastUsed_ = Clock::now();
}

void UploadPackSession::indexPack(const UniqueFd& pack, Clock::time_point deadline) {
    if (::lseek(pack.get(), 0, SEEK_SET) != 0) {
        fail(std::string("lseek: ") + errnoText(errno));
    }
    // What git fetch runs for a promisor remote: --promisor writes the .promisor file that
    // repack (PackConsolidator) and lazy-fetch bookkeeping rely on.
    SubprocessOptions options;
    options.extraEnvironment = {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
    options.stdinFd = pack.get();
    options.maxOutputBytes = 64U << 10U;
    options.timeout = std::chrono::milliseconds(std::max(1, millisecondsLeft(deadline)));
    const SubprocessResult result = runSubprocess(
        {"git", "-C", repository_.string(), "index-pack", "--stdin", "--fix-thin", "--promisor"},
        options);
    if (result.timedOut) {
        throw StoreError(StoreErrc::Timeout, "upload-pack session with " + sourceName_ +
                                                 ": index-pack " + result.describe());
    }
    if (!result.ok()) {
        fail("index-pack " + result.describe());
    }
}

}  // namespace megafuse::store
