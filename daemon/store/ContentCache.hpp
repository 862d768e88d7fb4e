// ContentCache: blob bytes as files <dir>/<2 hex>/<38 hex>, shared by every store (keyed by blob
// id, so a file in two repositories is stored once). Readers get an fd and pread from it; the
// kernel page cache does the rest. Files appear atomically (temp file + rename), so a crash never
// leaves a half-written file under a final name. LRU within a byte budget; the LRU index lives
// in memory and is rebuilt at start by scanning the folder (ordered by atime/mtime).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/UniqueFd.hpp"
#include "store/ObjectId.hpp"

namespace megafuse::store {

class ContentCache {
public:
    // Creates dir (0700) if needed, deletes temp files a crash left behind, indexes what is
    // there and evicts down to budgetBytes. Throws StoreError(Io) when dir cannot be created.
    ContentCache(std::filesystem::path dir, uint64_t budgetBytes);
    ContentCache(const ContentCache&) = delete;
    ContentCache& operator=(const ContentCache&) = delete;

    // Decides whether an existing cache file (open read-only as fd, fileSize bytes) holds exactly
    // the blob; a file that fails is replaced, never served. checkBytes is true the first time
    // this process uses a file it did not write (found at start, or written by another
    // process): then the bytes must be proven (hashed), not just the size, so damage done while
    // the daemon was down is never served. Files written by this process are trusted by size.
    using Validator = std::function<bool(int fd, uint64_t fileSize, bool checkBytes)>;
    // Produces the blob's bytes by calling sink one or more times; throws StoreError on failure.
    using Sink = std::function<void(const void* data, size_t size)>;
    using Materializer = std::function<void(const Sink& sink)>;
    // Writes the blob's bytes to fd (a new, empty temp file) by any means: a child process
    // streaming straight into it keeps large blobs out of this process's memory.
    using FileWriter = std::function<void(int fd)>;

    struct Opened {
        UniqueFd fd;       // O_RDONLY on the cache file; valid even after eviction
        bool hit = false;  // true when no bytes had to be written
    };

    // The cache file for id, materializing it first when absent or invalid. Concurrent calls
    // for one id materialize once (materialize should do local work only: waiters for the same
    // id wait on it without a deadline). Throws StoreError(Io) on disk trouble (ENOSPC named as
    // such) and whatever materialize throws.
    Opened open(const ObjectId& id, const Validator& isValid, const Materializer& materialize);
    // The same, with the bytes written to the temp file's fd by writeTo.
    Opened open(const ObjectId& id, const Validator& isValid, const FileWriter& writeTo);

    // The cache file for id when present and valid (a hit); an invalid fd otherwise. Writes
    // nothing: lets a store look here before deciding to fetch.
    UniqueFd lookup(const ObjectId& id, const Validator& isValid);

    [[nodiscard]] std::filesystem::path pathFor(const ObjectId& id) const;
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
    [[nodiscard]] uint64_t bytes() const;
    [[nodiscard]] uint64_t budgetBytes() const { return budgetBytes_; }

private:
    struct Entry {
        ObjectId id;
        uint64_t size;
        bool verified;  // written or hashed by this process
    };
    using Lru = std::list<Entry>;  // front = most recently used

    void scan();
    // Opens and validates the file at pathFor(id); invalid fd when absent or invalid.
    UniqueFd tryOpen(const ObjectId& id, const Validator& isValid);
    UniqueFd writeFile(const ObjectId& id, const FileWriter& writeTo);
    void noteUsedLocked(const ObjectId& id, uint64_t size, bool verified);
    void forgetLocked(const ObjectId& id);
    void evictLocked();
    [[noreturn]] void throwIo(const std::string& what, int error) const;

    const std::filesystem::path dir_;
    const uint64_t budgetBytes_;
    // Lock order: a leaf. Held for index updates and unlink(); never while bytes are written.
    mutable std::mutex mutex_;
    std::condition_variable materialized_;  // signalled when an id leaves materializing_
    Lru lru_;
    std::unordered_map<ObjectId, Lru::iterator, ObjectIdHash> index_;
    std::unordered_set<ObjectId, ObjectIdHash> materializing_;
    uint64_t bytes_ = 0;
};

}  // namespace megafuse::store
