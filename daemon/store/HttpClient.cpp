// HttpClient: libcurl easy handles in a small pool. One deadline covers every attempt of a
// request, so retries never stretch a reader's wait beyond it.
#include "store/HttpClient.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <exception>
#include <thread>

#include "store/StoreError.hpp"

namespace megafuse::store {
namespace {

using Clock = std::chrono::steady_clock;

void ensureCurl() {
    // curl_global_init is not thread-safe and must run before any handle exists.
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistFree {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

std::chrono::milliseconds remainingUntil(Clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

}  // namespace

struct HttpClient::Handle {
    struct Cleanup {
        void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
    };
    std::unique_ptr<CURL, Cleanup> curl;
};

// One request's parameters and what the write callback collects.
struct HttpClient::Request {
    const char* method = "GET";
    std::string url;
    bool head = false;
    uint64_t maxBytes = 0;
    std::function<void()> restart;
    Sink sink;

    // Per attempt.
    uint64_t received = 0;
    bool tooLarge = false;
    std::exception_ptr sinkError;
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
    ensureCurl();
}

HttpClient::~HttpClient() = default;

HttpClient::Counters HttpClient::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

std::unique_ptr<HttpClient::Handle> HttpClient::acquire(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    const size_t limit = std::max<size_t>(options_.concurrency, 1);
    if (!freed_.wait_until(lock, deadline, [&] { return busy_ < limit; })) {
        return nullptr;
    }
    ++busy_;
    if (!idle_.empty()) {
        auto handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
    }
    lock.unlock();
    auto handle = std::make_unique<Handle>();
    handle->curl.reset(curl_easy_init());
    if (!handle->curl) {
        release(nullptr);
        throw StoreError(StoreErrc::Io, options_.sourceName + ": cannot create an HTTP handle");
    }
    return handle;
}

void HttpClient::release(std::unique_ptr<Handle> handle) {
    std::lock_guard lock(mutex_);
    --busy_;
    if (handle) {
        idle_.push_back(std::move(handle));
    }
    freed_.notify_one();
}

HttpResponse HttpClient::perform(Request& request) {
    const Clock::time_point deadline = Clock::now() + options_.deadline;
    std::string lastError = "no attempt made";
    bool timedOut = false;
    auto backoff = options_.firstBackoff;
    const unsigned attempts = std::max(options_.attempts, 1U);

    SlistPtr headers;
    if (options_.bearerToken) {
        // The only place the token goes: a header of the request, never a URL or a message.
        const std::string line = "Authorization: Bearer " + *options_.bearerToken;
        headers.reset(curl_slist_append(nullptr, line.c_str()));
    }

    auto write = +[](char* data, size_t size, size_t count, void* user) -> size_t {
        auto* req = static_cast<Request*>(user);
        const size_t bytes = size * count;
        req->received += bytes;
        if (req->received > req->maxBytes) {
            req->tooLarge = true;
            return 0;  // CURLE_WRITE_ERROR ends the transfer
        }
        try {
            req->sink(data, bytes);
        } catch (...) {
            req->sinkError = std::current_exception();
            return 0;
        }
        return bytes;
    };

    for (unsigned attempt = 1; attempt <= attempts; ++attempt) {
        const auto remaining = remainingUntil(deadline);
        if (remaining.count() <= 0) {
            timedOut = true;
            break;
        }
        std::unique_ptr<Handle> handle = acquire(deadline);
        if (!handle) {
            timedOut = true;
            lastError = "every connection stayed busy";
            break;
        }
        CURL* curl = handle->curl.get();
        curl_easy_reset(curl);  // keeps the handle's live connections
        char errorBuffer[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(std::min(remaining, options_.connectTimeout).count()));
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (headers) {
            curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
        }
        if (request.head) {
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write);
            curl_easy_setopt(curl, CURLOPT_WRITEDATA, &request);
        }
        request.received = 0;
        request.tooLarge = false;
        request.sinkError = nullptr;
        if (request.restart) {
            request.restart();
        }
        const CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_off_t length = -1;
        if (rc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        }
        release(std::move(handle));

        if (request.sinkError) {
            std::rethrow_exception(request.sinkError);
        }
        if (request.tooLarge) {
            throw StoreError(StoreErrc::FetchFailed,
                             options_.sourceName + ": " + request.method + " " + request.url +
                                 ": answer larger than " + std::to_string(request.maxBytes) +
                                 " bytes");
        }
        if (rc == CURLE_OK && status < 500) {
            std::lock_guard lock(mutex_);
            ++counters_.requests;
            HttpResponse response;
            response.status = status;
            if (length >= 0) {
                response.contentLength = static_cast<uint64_t>(length);
            }
            return response;
        }
        {
            std::lock_guard lock(mutex_);
            ++counters_.failedAttempts;
        }
        if (rc == CURLE_OK) {
            lastError = "HTTP status " + std::to_string(status);
            timedOut = false;
        } else {
            lastError = errorBuffer[0] != '\0' ? errorBuffer : curl_easy_strerror(rc);
            timedOut = rc == CURLE_OPERATION_TIMEDOUT;
        }
        if (attempt < attempts) {
            const auto pause = std::min(backoff, remainingUntil(deadline));
            if (pause.count() > 0) {
                std::this_thread::sleep_for(pause);
            }
            backoff *= 2;
        }
    }
    const std::string what =
        options_.sourceName + ": " + request.method + " " + request.url + ": " + lastError;
    if (timedOut || remainingUntil(deadline).count() <= 0) {
        throw StoreError(
            StoreErrc::Timeout,
            what + " (no answer within " + std::to_string(options_.deadline.count()) + " ms)");
    }
    throw StoreError(StoreErrc::FetchFailed,
                     what + " (after " + std::to_string(attempts) + " attempts)");
}

HttpResponse HttpClient::get(const std::string& url, size_t maxBytes) {
    std::string body;
    Request request;
    request.url = url;
    request.maxBytes = maxBytes;
    request.restart = [&] { body.clear(); };
    request.sink = [&](const char* data, size_t size) { body.append(data, size); };
    HttpResponse response = perform(request);
    response.body = std::move(body);
    return response;
}

HttpResponse HttpClient::getStreamed(const std::string& url, uint64_t maxBytes,
                                     const std::function<void()>& restart, const Sink& sink) {
    Request request;
    request.url = url;
    request.maxBytes = maxBytes;
    request.restart = restart;
    request.sink = sink;
    return perform(request);
}

HttpResponse HttpClient::head(const std::string& url) {
    Request request;
    request.method = "HEAD";
    request.url = url;
    request.head = true;
    return perform(request);
}

std::string urlEncodePath(std::string_view path) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(path.size());
    for (unsigned char c : path) {
        const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                          c == '/';
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4U]);
            out.push_back(kHex[c & 0xFU]);
        }
    }
    return out;
}

std::string HttpClient::withoutToken(std::string text) const {
    if (!options_.bearerToken || options_.bearerToken->empty()) {
        return text;
    }
    const std::string& token = *options_.bearerToken;
    constexpr std::string_view kShown = "<token>";
    for (size_t at = text.find(token); at != std::string::npos;
         at = text.find(token, at + kShown.size())) {
        text.replace(at, token.size(), kShown);
    }
    return text;
}

}  // namespace megafuse::store
