// MegaResponseFuzz: Mega API answers → MegaObjectStore, through its real HTTP client. A loopback
// server in this process answers every request with the fuzz input: the part before the first
// "\n===\n" is the body of the JSON endpoints (latest-commit, tree/dir-hash), the part after it
// the raw tree of file/tree; the first byte picks the status (200, 404 or 403; never 5xx, which
// the client retries with backoff). Every call either answers or throws StoreError(Corrupt,
// NotFound, FetchFailed), and no message ever shows the bearer token the store sends.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "FuzzCheck.hpp"
#include "common/UniqueFd.hpp"
#include "store/ContentCache.hpp"
#include "store/MegaObjectStore.hpp"
#include "store/StoreError.hpp"
#include "store/TreeCache.hpp"

namespace {

using megafuse::UniqueFd;
using megafuse::fuzz::require;
namespace store = megafuse::store;

constexpr std::string_view kToken = "fuzz-bearer-token-5f0c1e";
constexpr std::string_view kTreeSeparator = "\n===\n";

// What the server answers now; the fuzz thread sets it before each input's calls.
struct Answer {
    std::mutex mutex;
    int status = 200;
    std::string json;
    std::string tree;
};

bool sendAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// One request per connection (Connection: close), served on the accept thread: the store's
// calls are sequential, so nothing waits on anything but the fuzz thread.
class LoopbackServer {
public:
    explicit LoopbackServer(Answer& answer) : answer_(answer) {
        listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        require(
            listener_ &&
                ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
                    0 &&
                ::listen(listener_.get(), 16) == 0 &&
                ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0,
            "the loopback server listens");
        port_ = ntohs(address.sin_port);
        std::thread([this] { serve(); }).detach();  // lives as long as the fuzzing process
    }

    [[nodiscard]] uint16_t port() const { return port_; }

private:
    void serve() {
        for (;;) {
            UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!client) {
                continue;
            }
            std::string request;
            char buffer[4096];
            while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
                ssize_t n = ::recv(client.get(), buffer, sizeof buffer, 0);
                if (n <= 0) {
                    break;
                }
                request.append(buffer, static_cast<size_t>(n));
            }
            require(request.find(std::string("Bearer ") + std::string(kToken)) != std::string::npos,
                    "every request carries the token");
            const bool head = request.starts_with("HEAD ");
            std::string body;
            int status = 0;
            {
                std::lock_guard lock(answer_.mutex);
                status = answer_.status;
                body = request.find("/api/v1/file/tree") != std::string::npos ? answer_.tree
                                                                              : answer_.json;
            }
            std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                " Fuzz\r\nContent-Length: " + std::to_string(body.size()) +
                                "\r\nConnection: close\r\n\r\n";
            if (!head) {
                reply += body;
            }
            (void)sendAll(client.get(), reply);
        }
    }

    Answer& answer_;
    UniqueFd listener_;
    uint16_t port_ = 0;
};

struct Fixture {
    Answer answer;
    LoopbackServer server{answer};
    std::filesystem::path dir;
    std::shared_ptr<store::MegaObjectStore> store;

    Fixture() {
        char pattern[] = "/tmp/megafuse-fuzz-mega-XXXXXX";
        require(::mkdtemp(pattern) != nullptr, "a temp folder");
        dir = pattern;
        const auto tokenFile = dir / "token";
        std::ofstream(tokenFile) << kToken << "\n";
        ::chmod(tokenFile.c_str(), 0600);
        store::StoreOptions options;
        options.cacheDir = dir / "cache";
        options.fetchTimeout = std::chrono::seconds(5);
        options.treeCacheBytes = 4U << 20U;
        auto contentCache =
            std::make_shared<store::ContentCache>(options.cacheDir / "blobs", 64U << 20U);
        auto trees = std::make_shared<store::TreeCache>(options.treeCacheBytes);
        const auto source = store::SourceSpec::mega(
            "http://127.0.0.1:" + std::to_string(server.port()), "/project", tokenFile);
        store = std::make_shared<store::MegaObjectStore>(source, options, contentCache, trees);
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;
    // libFuzzer ends with exit(), which destroys instance()'s fixture: the folder goes with it.
    // (An atexit handler registered in the constructor ran after this destructor and found the
    // path already destroyed: every run left its folder in /tmp.)
    ~Fixture() {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    static Fixture& instance() {
        static Fixture fixture;
        return fixture;
    }
};

// Runs one store call; only the store's own error kinds for a bad answer may come out.
template <typename Fn>
void expectAnswerOrStoreError(const char* call, Fn&& fn) {
    try {
        fn();
    } catch (const store::StoreError& e) {
        const std::string message = e.what();
        require(e.code() == store::StoreErrc::Corrupt || e.code() == store::StoreErrc::NotFound ||
                    e.code() == store::StoreErrc::FetchFailed,
                std::string(call) + " fails with Corrupt, NotFound or FetchFailed", message);
        require(message.find(kToken) == std::string::npos,
                std::string(call) + ": no message shows the token", message);
    } catch (const std::exception& e) {
        require(false, std::string(call) + " throws StoreError only", e.what());
    }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point, named by libFuzzer.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& fixture = Fixture::instance();
    std::string_view input(reinterpret_cast<const char*>(data), size);
    int status = 200;
    if (!input.empty()) {
        const auto selector = static_cast<unsigned char>(input.front());
        status = selector == '4' ? 404 : selector == '3' ? 403 : 200;
        if (status != 200) {
            input.remove_prefix(1);
        }
    }
    {
        std::lock_guard lock(fixture.answer.mutex);
        fixture.answer.status = status;
        const size_t separator = input.find(kTreeSeparator);
        fixture.answer.json = std::string(input.substr(0, separator));
        fixture.answer.tree = separator == std::string_view::npos
                                  ? std::string()
                                  : std::string(input.substr(separator + kTreeSeparator.size()));
    }
    store::MegaObjectStore& mega = *fixture.store;
    expectAnswerOrStoreError("resolveCommit", [&] {
        const store::ObjectId commit = mega.resolveCommit("HEAD");
        (void)mega.commitTime(commit);
        expectAnswerOrStoreError("treeAtPath", [&] {
            const store::ObjectId root = mega.treeAtPath(commit, "");
            const auto tree = mega.readTree(root);
            require(tree != nullptr && tree->id() == root, "the root tree reads back by its id");
        });
    });
    expectAnswerOrStoreError("directoryHash", [&] { (void)mega.directoryHash("sub/dir"); });
    return 0;
}
