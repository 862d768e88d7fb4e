// HttpClient: the few HTTP requests a Mega source makes (GET into memory or into a file, HEAD),
// over libcurl with a deadline, bounded retries with backoff and an optional bearer token.
// Transport trouble becomes StoreError(Timeout | FetchFailed); HTTP statuses are returned.
//
// Threads: any thread may call any method; at most `concurrency` requests run at once (callers
// beyond that wait, within their deadline), each on an easy handle from a pool of that size
// (reused so keep-alive connections are too). The token is only ever put in a request header:
// no message, log line or describe() shows it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace megafuse::store {

struct HttpOptions {
    std::string sourceName;  // for messages
    std::optional<std::string> bearerToken;
    // One request, all attempts and backoff included, at most this long: a reader gets EIO,
    // never a hang.
    std::chrono::milliseconds deadline{30'000};
    std::chrono::milliseconds connectTimeout{10'000};  // one attempt's connect, at most
    // Attempts per request for transport errors and 5xx answers (4xx are final at once).
    unsigned attempts = 3;
    std::chrono::milliseconds firstBackoff{100};  // doubled after each failed attempt
    size_t concurrency = 2;                       // requests at once
};

struct HttpResponse {
    long status = 0;
    std::string body;                       // GET into memory only
    std::optional<uint64_t> contentLength;  // HEAD: the server's Content-Length
};

class HttpClient {
public:
    explicit HttpClient(HttpOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // GET with the body in memory; a body larger than maxBytes fails as FetchFailed (bounded:
    // trees and JSON listings only).
    HttpResponse get(const std::string& url, size_t maxBytes);
    // GET with the body handed to sink chunk by chunk (streamed, never whole in memory).
    // restart is called before every attempt so the caller can drop a partial body. A body
    // longer than maxBytes fails as FetchFailed. The status is returned; the body is empty.
    using Sink = std::function<void(const char* data, size_t size)>;
    HttpResponse getStreamed(const std::string& url, uint64_t maxBytes,
                             const std::function<void()>& restart, const Sink& sink);
    // HEAD; contentLength set when the server sent one.
    HttpResponse head(const std::string& url);

    // text with every copy of the bearer token replaced by "<token>": for server text that a
    // message may quote (a server echoing the token back must not put it in our logs).
    [[nodiscard]] std::string withoutToken(std::string text) const;

    // Requests answered, attempts that failed (transport or 5xx).
    struct Counters {
        uint64_t requests = 0;
        uint64_t failedAttempts = 0;
    };
    [[nodiscard]] Counters counters() const;

private:
    struct Handle;
    struct Request;
    HttpResponse perform(Request& request);

    std::unique_ptr<Handle> acquire(std::chrono::steady_clock::time_point deadline);
    void release(std::unique_ptr<Handle> handle);

    const HttpOptions options_;
    // Lock order: a leaf. Never held while a request runs.
    mutable std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Handle>> idle_;
    size_t busy_ = 0;
    Counters counters_;
};

// Percent-encodes a path for a query parameter or a URL path (RFC 3986 unreserved and '/' kept):
// "/a b+c#" → "/a%20b%2Bc%23".
std::string urlEncodePath(std::string_view path);

}  // namespace megafuse::store
