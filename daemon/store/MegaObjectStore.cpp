// MegaObjectStore: Mega's REST API behind ObjectStore. A blob is downloaded into an unnamed temp
// file, hashed, and only then copied into the content cache: a server answering the wrong bytes
// for an id is reported (Corrupt) and never served. JSON answers are read with yaml-cpp (JSON is
// YAML), which the daemon already links for its configuration.
#include "store/MegaObjectStore.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <ctime>
#include <functional>
#include <system_error>
#include <thread>

#include "store/GitCli.hpp"
#include "store/GitObjectFormat.hpp"
#include "store/PartialClone.hpp"

namespace megafuse::store {
namespace {

constexpr uint64_t kMaxJsonBytes = 64ULL << 20U;  // a directory listing, at most
constexpr size_t kMinKnownEntries = 4096;
constexpr size_t kMaxTokenBytes = size_t{64} * 1024;

// Concurrent calls for one key run fn once; the others wait for its outcome (value or error).
// Waiting is bounded because fn is: every request it makes has the store's deadline.
template <class Key, class T, class Hash>
class SingleFlight {
public:
    T run(const Key& key, const std::function<T()>& fn) {
        std::promise<T> promise;
        std::shared_future<T> future;
        bool leader = false;
        {
            std::lock_guard lock(mutex_);
            if (auto it = running_.find(key); it != running_.end()) {
                future = it->second;
            } else {
                future = promise.get_future().share();
                running_.emplace(key, future);
                leader = true;
            }
        }
        if (!leader) {
            return future.get();
        }
        try {
            T value = fn();
            finish(key);
            promise.set_value(value);
            return value;
        } catch (...) {
            finish(key);
            promise.set_exception(std::current_exception());
            throw;
        }
    }

private:
    void finish(const Key& key) {
        std::lock_guard lock(mutex_);
        running_.erase(key);
    }
    // Lock order: a leaf.
    std::mutex mutex_;
    std::unordered_map<Key, std::shared_future<T>, Hash> running_;
};

std::string modeText(mode_t mode) {
    char text[8];
    (void)std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777U));
    return text;
}

// A JSON answer: Mega wraps listings as {req_result, data, err_message}; a false req_result is
// the server saying no (NotFound with its message). Anything unreadable is Corrupt.
YAML::Node parseJson(const std::string& body, const std::string& what) {
    YAML::Node root;
    try {
        root = YAML::Load(body);
    } catch (const YAML::Exception& e) {
        throw StoreError(StoreErrc::Corrupt, what + ": the server's answer is not JSON (" +
                                                 std::string(e.what()) + ")");
    }
    if (!root.IsMap()) {
        throw StoreError(StoreErrc::Corrupt, what + ": the server's answer is not a JSON object");
    }
    if (root["req_result"]) {
        bool ok = false;
        try {
            ok = root["req_result"].as<bool>();
        } catch (const YAML::Exception&) {
            throw StoreError(StoreErrc::Corrupt, what + ": req_result is not a boolean");
        }
        if (!ok) {
            std::string message = "no reason given";
            if (root["err_message"] && root["err_message"].IsScalar()) {
                message = root["err_message"].as<std::string>();
            }
            throw StoreError(StoreErrc::NotFound, what + ": the server says: " + message);
        }
        return root["data"];
    }
    return root;
}

std::string scalar(const YAML::Node& node, const char* key, const std::string& what) {
    if (!node.IsMap() || !node[key] || !node[key].IsScalar()) {
        throw StoreError(StoreErrc::Corrupt,
                         what + ": the server's answer has no '" + std::string(key) + "'");
    }
    return node[key].as<std::string>();
}

ObjectId idFrom(const std::string& hex, const std::string& what) {
    auto id = ObjectId::fromHex(hex);
    if (!id) {
        throw StoreError(StoreErrc::Corrupt, what + ": '" + hex + "' is not a 40-digit object id");
    }
    return *id;
}

void writeAll(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const int error = errno;
            throw StoreError(StoreErrc::Io,
                             std::string("write downloaded blob: ") +
                                 (error == ENOSPC ? "no space left on device (ENOSPC)"
                                                  : std::generic_category().message(error)));
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
}

}  // namespace

std::string readTokenFile(const std::filesystem::path& file) {
    // O_NOFOLLOW + fstat: the mode checked is the mode of the file read.
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        throw StoreError(StoreErrc::BadSource,
                         "token file " + file.string() +
                             " cannot be opened: " + std::generic_category().message(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw StoreError(StoreErrc::BadSource,
                         "token file " + file.string() + " is not a regular file");
    }
    if ((st.st_mode & 077U) != 0) {
        throw StoreError(StoreErrc::BadSource,
                         "token file " + file.string() + " has mode " + modeText(st.st_mode) +
                             "; it must be readable by its owner only (chmod 600 " + file.string() +
                             ")");
    }
    std::string text(kMaxTokenBytes + 1, '\0');
    size_t got = 0;
    while (got < text.size()) {
        ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw StoreError(StoreErrc::BadSource,
                             "token file " + file.string() +
                                 " cannot be read: " + std::generic_category().message(errno));
        }
        if (n == 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    if (got > kMaxTokenBytes) {
        throw StoreError(StoreErrc::BadSource, "token file " + file.string() + " is larger than " +
                                                   std::to_string(kMaxTokenBytes) + " bytes");
    }
    text.resize(got);
    if (const auto end = text.find('\n'); end != std::string::npos) {
        text.resize(end);
    }
    const auto first = text.find_first_not_of(" \t\r");
    const auto last = text.find_last_not_of(" \t\r");
    if (first == std::string::npos) {
        throw StoreError(StoreErrc::BadSource, "token file " + file.string() + " is empty");
    }
    return text.substr(first, last - first + 1);
}

struct MegaObjectStore::Flights {
    SingleFlight<ObjectId, std::shared_ptr<const Tree>, ObjectIdHash> trees;
    SingleFlight<std::string, std::shared_ptr<const Tree>, std::hash<std::string>> paths;
    SingleFlight<ObjectId, bool, ObjectIdHash> blobs;
};

MegaObjectStore::MegaObjectStore(const SourceSpec& source, const StoreOptions& options,
                                 std::shared_ptr<ContentCache> contentCache,
                                 std::shared_ptr<TreeCache> trees)
    : source_(source),
      options_(options),
      displayName_(redactCredentials(source.location) + " (path " + source.megaPath + ")"),
      contentCache_(std::move(contentCache)),
      trees_(std::move(trees)),
      downloadDir_(options.cacheDir / "mega-downloads"),
      maxKnownEntries_(std::max<size_t>(options.treeCacheBytes / 128, kMinKnownEntries)),
      localPath_(
          partialClonePath(options.cacheDir / "mega-objects", source.location + source.megaPath)),
      flights_(std::make_unique<Flights>()) {
    HttpOptions http;
    http.sourceName = displayName_;
    if (!source_.tokenFile.empty()) {
        bearerToken_ = readTokenFile(source_.tokenFile);
        http.bearerToken = bearerToken_;
    }
    http.deadline = options_.fetchTimeout;
    http.connectTimeout = std::min(options_.fetchTimeout, std::chrono::milliseconds(10'000));
    http.concurrency = std::max<size_t>(options_.fetchConcurrency, 1);
    http_ = std::make_unique<HttpClient>(std::move(http));
    std::error_code ec;
    std::filesystem::create_directories(downloadDir_, ec);
    if (ec) {
        throw StoreError(StoreErrc::Io,
                         "cannot create " + downloadDir_.string() + ": " + ec.message());
    }
}

MegaObjectStore::~MegaObjectStore() = default;

std::string MegaObjectStore::describe() const {
    return displayName_;
}

StoreStats MegaObjectStore::stats() const {
    StoreStats s;
    s.objectsFetched = objectsFetched_.load();
    s.bytesFetched = bytesFetched_.load();
    s.fetchBatches = http_->counters().requests;
    s.fetchFailures = fetchFailures_.load();
    s.contentCacheHits = cacheHits_.load();
    s.contentCacheMisses = cacheMisses_.load();
    return s;
}

std::string MegaObjectStore::fullPath(std::string_view subPath) const {
    std::string path = source_.megaPath == "/" ? "" : source_.megaPath;
    size_t pos = 0;
    while (pos <= subPath.size()) {
        size_t slash = subPath.find('/', pos);
        if (slash == std::string_view::npos) {
            slash = subPath.size();
        }
        std::string_view part = subPath.substr(pos, slash - pos);
        if (part == "..") {
            throw StoreError(StoreErrc::NotFound, "path '" + std::string(subPath) + "' in " +
                                                      displayName_ + " contains '..'");
        }
        if (!part.empty() && part != ".") {
            path += "/";
            path += part;
        }
        pos = slash + 1;
    }
    return path.empty() ? "/" : path;
}

std::string MegaObjectStore::getBody(const std::string& url, const std::string& what) {
    HttpResponse response;
    try {
        response = http_->get(url, kMaxJsonBytes);
    } catch (const StoreError&) {
        fetchFailures_.fetch_add(1);
        throw;
    }
    if (response.status == 404) {
        throw StoreError(StoreErrc::NotFound, what + ": not found in " + displayName_);
    }
    if (response.status != 200) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::FetchFailed, what + ": " + displayName_ + " answered HTTP " +
                                                     std::to_string(response.status));
    }
    // JSON is quoted in messages (err_message, a bad oid): never with the token in it.
    return http_->withoutToken(std::move(response.body));
}

ObjectId MegaObjectStore::fetchLatestCommit() {
    const std::string what = "latest commit of " + source_.megaPath;
    const std::string body = getBody(
        source_.location + "/api/v1/latest-commit?path=" + urlEncodePath(source_.megaPath), what);
    const YAML::Node info = parseJson(body, what);
    const ObjectId commit = idFrom(scalar(info, "oid", what), what);
    // Mega's commit info has no machine-readable time everywhere: accept seconds since the
    // epoch in "date" and fall back to now (a mount shows one time for all its inodes anyway).
    auto time = static_cast<int64_t>(std::time(nullptr));
    if (info["date"] && info["date"].IsScalar()) {
        try {
            time = info["date"].as<int64_t>();
        } catch (const YAML::Exception&) {
        }
    }
    std::lock_guard lock(mutex_);
    if (commitTimes_.size() >= kMinKnownEntries) {
        commitTimes_.clear();
    }
    commitTimes_[commit] = time;
    latestCommit_ = commit;
    return commit;
}

ObjectId MegaObjectStore::resolveCommit(const std::string& revision) {
    if (revision.empty() || revision == "HEAD") {
        return fetchLatestCommit();
    }
    const auto fullId = ObjectId::fromHex(revision);
    if (!fullId) {
        throw StoreError(StoreErrc::NotFound,
                         "unknown revision '" + revision + "' in " + displayName_ +
                             ": a Mega source resolves HEAD or its latest commit's full id only");
    }
    const ObjectId latest = fetchLatestCommit();
    if (latest != *fullId) {
        throw StoreError(StoreErrc::NotFound,
                         "revision " + revision + " is not the latest commit of " + displayName_ +
                             " (" + latest.hex() +
                             "), and Mega's API serves trees of the latest commit only");
    }
    return latest;
}

int64_t MegaObjectStore::commitTime(const ObjectId& commit) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = commitTimes_.find(commit); it != commitTimes_.end()) {
            return it->second;
        }
    }
    if (isLocalCommit(commit)) {
        return localStore(false)->commitTime(commit);
    }
    throw StoreError(StoreErrc::NotFound,
                     "commit " + commit.hex() + " was not resolved from " + displayName_);
}

ObjectId MegaObjectStore::treeAtPath(const ObjectId& commit, std::string_view subPath) {
    bool served = false;
    {
        std::lock_guard lock(mutex_);
        served = !latestCommit_ || *latestCommit_ == commit;
    }
    if (!served && isLocalCommit(commit)) {
        // A commit of a writable mount: its root is the mount path's tree; below it, unchanged
        // directories are the server's (read through the API), changed ones local.
        ObjectId tree = localStore(false)->treeAtPath(commit, "");
        size_t pos = 0;
        while (pos <= subPath.size()) {
            const size_t slash = std::min(subPath.find('/', pos), subPath.size());
            const std::string_view part = subPath.substr(pos, slash - pos);
            pos = slash + 1;
            if (part.empty() || part == ".") {
                continue;
            }
            const TreeEntry* entry = part == ".." ? nullptr : readTree(tree)->find(part);
            if (entry == nullptr || entry->kind != EntryKind::Directory) {
                throw StoreError(StoreErrc::NotFound, "path '" + std::string(subPath) +
                                                          "' is no directory in commit " +
                                                          commit.hex() + " of " + displayName_);
            }
            tree = entry->id;
        }
        return tree;
    }
    {
        std::lock_guard lock(mutex_);
        if (latestCommit_ && *latestCommit_ != commit) {
            throw StoreError(StoreErrc::NotFound,
                             "commit " + commit.hex() + " is no longer the latest of " +
                                 displayName_ + " (" + latestCommit_->hex() + ")");
        }
    }
    const std::string path = fullPath(subPath);
    return flights_->paths.run(path, [&] { return fetchTree(path, std::nullopt); })->id();
}

std::shared_ptr<const Tree> MegaObjectStore::readTree(const ObjectId& id) {
    if (auto cached = trees_->get(id)) {
        return cached;
    }
    // Trees a commit wrote (changed directories) exist only in the local repository.
    if (auto local = localStore(false)) {
        try {
            return local->readTree(id);
        } catch (const StoreError& e) {
            if (e.code() != StoreErrc::NotFound) {
                throw;
            }
        }
    }
    auto path = pathOf(id);
    if (!path) {
        throw StoreError(StoreErrc::NotFound, "tree " + id.hex() + " was not seen in any " +
                                                  "directory read from " + displayName_);
    }
    return flights_->trees.run(id, [&] {
        if (auto cached = trees_->get(id)) {
            return cached;  // a flight that just ended brought it
        }
        return fetchTree(*path, id);
    });
}

std::shared_ptr<const Tree> MegaObjectStore::fetchTree(const std::string& path,
                                                       const std::optional<ObjectId>& expected) {
    std::string url = source_.location + "/api/v1/file/tree?path=" + urlEncodePath(path);
    if (expected) {
        url += "&oid=" + expected->hex();
    }
    const std::string what = "tree of " + path + " from " + displayName_;
    HttpResponse response;
    try {
        response = http_->get(url, std::max<uint64_t>(options_.treeCacheBytes, 1U << 20U));
    } catch (const StoreError&) {
        fetchFailures_.fetch_add(1);
        throw;
    }
    // Mega answers an unknown path with an empty body; an empty tree cannot come from Git.
    if (response.status == 404 || (response.status == 200 && response.body.empty())) {
        throw StoreError(StoreErrc::NotFound,
                         "path '" + path + "' does not exist in " + displayName_);
    }
    if (response.status != 200) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::FetchFailed,
                         what + ": HTTP " + std::to_string(response.status));
    }
    const ObjectId actual = hashTreeObject(response.body);
    if (expected && actual != *expected) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::Corrupt, what + ": the bytes hash to " + actual.hex() +
                                                 ", not to the requested " + expected->hex());
    }
    size_t skipped = 0;
    std::vector<TreeEntry> entries;
    try {
        entries = parseTreeObject(response.body, what, &skipped);
    } catch (const StoreError&) {
        fetchFailures_.fetch_add(1);
        throw;
    }
    if (skipped != 0) {
        spdlog::warn("{}: {} entries with modes Git never writes; hidden", what, skipped);
    }
    auto tree = std::make_shared<const Tree>(actual, std::move(entries));
    objectsFetched_.fetch_add(1);
    bytesFetched_.fetch_add(response.body.size());
    rememberPaths(*tree, path);
    trees_->put(tree);
    return tree;
}

void MegaObjectStore::rememberPaths(const Tree& tree, const std::string& path) {
    std::lock_guard lock(mutex_);
    auto remember = [&](const ObjectId& id, std::string where) {
        auto [it, inserted] = pathOf_.insert_or_assign(id, std::move(where));
        (void)it;
        if (inserted) {
            pathOrder_.push_back(id);
        }
    };
    remember(tree.id(), path);
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (const TreeEntry& entry : tree.entries()) {
        if (entry.kind == EntryKind::Directory) {
            remember(entry.id, prefix + entry.name);
        }
    }
    while (pathOrder_.size() > maxKnownEntries_) {
        pathOf_.erase(pathOrder_.front());
        pathOrder_.pop_front();
    }
}

std::optional<std::string> MegaObjectStore::pathOf(const ObjectId& treeId) {
    std::lock_guard lock(mutex_);
    if (auto it = pathOf_.find(treeId); it != pathOf_.end()) {
        return it->second;
    }
    return std::nullopt;
}

std::optional<uint64_t> MegaObjectStore::knownSize(const ObjectId& id) {
    std::lock_guard lock(mutex_);
    if (auto it = sizes_.find(id); it != sizes_.end()) {
        return it->second;
    }
    return std::nullopt;
}

void MegaObjectStore::rememberSize(const ObjectId& id, uint64_t size) {
    std::lock_guard lock(mutex_);
    if (sizes_.size() >= maxKnownEntries_) {
        sizes_.clear();  // sizes are cheap to ask again; a bound matters more than their order
    }
    sizes_[id] = size;
}

ContentCache::Validator MegaObjectStore::validatorFor(const ObjectId& id) {
    return [this, id](int fd, uint64_t fileSize, bool checkBytes) {
        const auto size = knownSize(id);
        if (size && *size != fileSize) {
            return false;
        }
        if (!checkBytes) {
            return true;  // written by this process after its bytes were hashed
        }
        try {
            return hashBlobFile(fd) == id;
        } catch (const StoreError&) {
            return false;
        }
    };
}

bool MegaObjectStore::hasBlob(const ObjectId& id) {
    UniqueFd fd = contentCache_->lookup(id, validatorFor(id));
    if (!fd) {
        const auto local = localStore(false);
        return local && local->hasBlob(id);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0) {
        rememberSize(id, static_cast<uint64_t>(st.st_size));
    }
    return true;
}

uint64_t MegaObjectStore::blobSize(const ObjectId& id) {
    if (auto size = knownSize(id)) {
        return *size;
    }
    if (hasBlob(id)) {
        if (auto size = knownSize(id)) {
            return *size;
        }
        if (auto local = localStore(false); local && local->hasBlob(id)) {
            return local->blobSize(id);
        }
    }
    const std::string url = source_.location + "/api/v1/file/blob/" + id.hex();
    HttpResponse response;
    try {
        response = http_->head(url);
    } catch (const StoreError&) {
        fetchFailures_.fetch_add(1);
        throw;
    }
    if (response.status == 404) {
        throw StoreError(StoreErrc::NotFound, "blob " + id.hex() + " not found in " + displayName_);
    }
    if (response.status != 200 || !response.contentLength) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::FetchFailed,
                         "size of blob " + id.hex() + " from " + displayName_ + ": HTTP " +
                             std::to_string(response.status) +
                             (response.contentLength ? "" : " without a Content-Length"));
    }
    rememberSize(id, *response.contentLength);
    return *response.contentLength;
}

void MegaObjectStore::downloadBlob(const ObjectId& id) {
    // O_TMPFILE: the download has no name until verified, and vanishes with its fd whatever
    // happens (a crash leaves nothing behind).
    UniqueFd tmp(::open(downloadDir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!tmp) {
        throw StoreError(StoreErrc::Io, "cannot create a temp file in " + downloadDir_.string() +
                                            ": " + std::generic_category().message(errno));
    }
    const std::string what = "blob " + id.hex() + " from " + displayName_;
    HttpResponse response;
    try {
        response = http_->getStreamed(
            source_.location + "/api/v1/file/blob/" + id.hex(), contentCache_->budgetBytes(),
            [&] {
                if (::ftruncate(tmp.get(), 0) != 0 || ::lseek(tmp.get(), 0, SEEK_SET) != 0) {
                    throw StoreError(StoreErrc::Io, "cannot reset the download of " + what);
                }
            },
            [&](const char* data, size_t size) { writeAll(tmp.get(), data, size); });
    } catch (const StoreError&) {
        fetchFailures_.fetch_add(1);
        throw;
    }
    if (response.status == 404) {
        throw StoreError(StoreErrc::NotFound, what + ": not found (HTTP 404)");
    }
    if (response.status != 200) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::FetchFailed,
                         what + ": HTTP " + std::to_string(response.status));
    }
    const ObjectId actual = hashBlobFile(tmp.get());
    if (actual != id) {
        fetchFailures_.fetch_add(1);
        throw StoreError(StoreErrc::Corrupt,
                         what + ": the server's bytes hash to " + actual.hex() + "; not served");
    }
    struct stat st {};
    if (::fstat(tmp.get(), &st) != 0) {
        throw StoreError(StoreErrc::Io, "stat the download of " + what);
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    rememberSize(id, size);
    objectsFetched_.fetch_add(1);
    bytesFetched_.fetch_add(size);
    // Local work only, as ContentCache asks of a materializer: copy the verified bytes.
    auto copy = [&](const ContentCache::Sink& sink) {
        std::vector<char> buffer(1U << 20U);
        off_t offset = 0;
        while (true) {
            ssize_t n = ::pread(tmp.get(), buffer.data(), buffer.size(), offset);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                throw StoreError(StoreErrc::Io, "read the download of " + what);
            }
            if (n == 0) {
                break;
            }
            sink(buffer.data(), static_cast<size_t>(n));
            offset += n;
        }
    };
    contentCache_->open(id, validatorFor(id), copy);
}

void MegaObjectStore::fetchBlobIntoCache(const ObjectId& id) {
    flights_->blobs.run(id, [&] {
        if (!hasBlob(id)) {  // a flight that just ended may have brought it
            downloadBlob(id);
        }
        return true;
    });
}

void MegaObjectStore::prefetchBlobs(const std::vector<ObjectId>& ids) {
    std::vector<ObjectId> missing;
    std::unordered_map<ObjectId, bool, ObjectIdHash> seen;
    for (const ObjectId& id : ids) {
        if (seen.emplace(id, true).second && !hasBlob(id)) {
            missing.push_back(id);
        }
    }
    if (missing.empty()) {
        return;
    }
    // Up to fetchConcurrency downloads at once (the HTTP client holds the same bound); this
    // thread is one of the workers.
    std::atomic<size_t> next{0};
    std::mutex errorMutex;
    std::exception_ptr firstError;
    auto work = [&] {
        for (size_t i = next.fetch_add(1); i < missing.size(); i = next.fetch_add(1)) {
            try {
                fetchBlobIntoCache(missing[i]);
            } catch (...) {
                std::lock_guard lock(errorMutex);
                if (!firstError) {
                    firstError = std::current_exception();
                }
            }
        }
    };
    const size_t workers =
        std::min(missing.size(), std::max<size_t>(options_.fetchConcurrency, 1)) - 1;
    std::vector<std::jthread> threads;
    threads.reserve(workers);
    for (size_t i = 0; i < workers; ++i) {
        threads.emplace_back(work);
    }
    work();
    threads.clear();  // joins
    if (firstError) {
        std::rethrow_exception(firstError);
    }
}

UniqueFd MegaObjectStore::openBlob(const ObjectId& id) {
    const auto isValid = validatorFor(id);
    if (UniqueFd cached = contentCache_->lookup(id, isValid)) {
        cacheHits_.fetch_add(1);
        return cached;
    }
    if (auto local = localStore(false); local && local->hasBlob(id)) {
        return local->openBlob(id);  // written by a commit: copied into the content cache
    }
    cacheMisses_.fetch_add(1);
    // Twice at most: a cache budget smaller than this blob evicts it right after the copy.
    for (int attempt = 0; attempt < 2; ++attempt) {
        fetchBlobIntoCache(id);
        if (UniqueFd fd = contentCache_->lookup(id, isValid)) {
            return fd;
        }
    }
    throw StoreError(StoreErrc::Io, "blob " + id.hex() + " from " + displayName_ +
                                        " was evicted from the content cache right after its "
                                        "download (content_cache_size too small?)");
}

std::string MegaObjectStore::readBlob(const ObjectId& id, size_t maxBytes) {
    // No HEAD first: small blobs (symlink targets) cost one GET; a known size is still checked
    // before anything is downloaded.
    if (const auto size = knownSize(id); size && *size > maxBytes) {
        throw StoreError(StoreErrc::Corrupt, "blob " + id.hex() + " has " + std::to_string(*size) +
                                                 " bytes, more than the " +
                                                 std::to_string(maxBytes) + " allowed here");
    }
    UniqueFd fd = openBlob(id);
    std::string bytes(maxBytes + 1, '\0');
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n =
            ::pread(fd.get(), bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw StoreError(StoreErrc::Io, "read blob " + id.hex() + " from the content cache");
        }
        if (n == 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    if (got > maxBytes) {
        throw StoreError(StoreErrc::Corrupt, "blob " + id.hex() + " is larger than " +
                                                 std::to_string(maxBytes) + " bytes");
    }
    bytes.resize(got);
    return bytes;
}

std::optional<ObjectId> MegaObjectStore::changedTree(std::string_view subPath,
                                                     const ObjectId& shown) {
    const std::string path = fullPath(subPath);
    if (path != "/") {
        const auto hash = directoryHash(subPath);
        if (!hash) {
            throw StoreError(StoreErrc::NotFound,
                             "path '" + path + "' no longer exists in " + displayName_);
        }
        if (*hash == shown) {
            return std::nullopt;
        }
    } else {
        std::optional<ObjectId> before;
        {
            std::lock_guard lock(mutex_);
            before = latestCommit_;
        }
        if (before && fetchLatestCommit() == *before) {
            return std::nullopt;
        }
    }
    if (path != "/") {
        fetchLatestCommit();  // the new commit's time, and treeAtPath's check of the latest
    }
    const ObjectId tree =
        flights_->paths.run(path, [&] { return fetchTree(path, std::nullopt); })->id();
    return tree == shown ? std::nullopt : std::optional<ObjectId>(tree);
}

std::optional<ObjectId> MegaObjectStore::directoryHash(std::string_view subPath) {
    const std::string path = fullPath(subPath);
    if (path == "/") {
        return std::nullopt;  // the monorepo's root has no parent listing it
    }
    const std::string what = "dir-hash of " + path;
    const std::string body =
        getBody(source_.location + "/api/v1/tree/dir-hash?path=" + urlEncodePath(path), what);
    const YAML::Node data = parseJson(body, what);
    if (!data.IsSequence()) {
        throw StoreError(StoreErrc::Corrupt, what + ": 'data' is not a list");
    }
    const std::string name = path.substr(path.rfind('/') + 1);
    for (const auto& entry : data) {
        if (scalar(entry, "name", what) == name) {
            return idFrom(scalar(entry, "oid", what), what);
        }
    }
    return std::nullopt;
}

}  // namespace megafuse::store
