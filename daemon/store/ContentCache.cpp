// ContentCache: temp-file + rename writes, fd-based validation, in-memory LRU over the folder.
#include "store/ContentCache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include "common/Log.hpp"
#include "common/Paths.hpp"
#include "store/StoreError.hpp"

namespace megafuse::store {
namespace {

constexpr std::string_view kTempPrefix = ".tmp-";

// Removes the id from the in-flight set in every outcome and wakes the waiters.
class MaterializingGuard {
public:
    MaterializingGuard(std::mutex& mutex, std::unordered_set<ObjectId, ObjectIdHash>& set,
                       std::condition_variable& done, const ObjectId& id)
        : mutex_(mutex), set_(set), done_(done), id_(id) {}
    MaterializingGuard(const MaterializingGuard&) = delete;
    MaterializingGuard& operator=(const MaterializingGuard&) = delete;
    ~MaterializingGuard() {
        std::lock_guard lock(mutex_);
        set_.erase(id_);
        done_.notify_all();
    }

private:
    std::mutex& mutex_;
    std::unordered_set<ObjectId, ObjectIdHash>& set_;
    std::condition_variable& done_;
    ObjectId id_;
};

}  // namespace

ContentCache::ContentCache(std::filesystem::path dir, uint64_t budgetBytes)
    : dir_(std::move(dir)), budgetBytes_(budgetBytes) {
    try {
        ensurePrivateDirectory(dir_);
    } catch (const std::system_error& e) {
        throw StoreError(StoreErrc::Io, std::string("content cache: ") + e.what());
    }
    scan();
}

std::filesystem::path ContentCache::pathFor(const ObjectId& id) const {
    std::string hex = id.hex();
    return dir_ / hex.substr(0, 2) / hex.substr(2);
}

void ContentCache::throwIo(const std::string& what, int error) const {
    throw StoreError(StoreErrc::Io, "content cache " + dir_.string() + ": " +
                                        (what.empty() ? "" : what + ": ") +
                                        std::generic_category().message(error));
}

void ContentCache::scan() {
    struct Found {
        ObjectId id;
        uint64_t size;
        int64_t usedAt;
    };
    std::vector<Found> found;
    std::error_code ec;
    for (const auto& sub : std::filesystem::directory_iterator(dir_, ec)) {
        std::string prefix = sub.path().filename().string();
        if (prefix.size() != 2 || !sub.is_directory(ec)) {
            continue;
        }
        for (const auto& file : std::filesystem::directory_iterator(sub.path(), ec)) {
            std::string name = file.path().filename().string();
            if (name.rfind(kTempPrefix, 0) == 0) {
                ::unlink(file.path().c_str());  // a write a crash interrupted
                continue;
            }
            auto id = ObjectId::fromHex(prefix + name);
            struct stat st {};
            if (!id || ::lstat(file.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            }
            found.push_back({*id, static_cast<uint64_t>(st.st_size),
                             std::max<int64_t>(st.st_atim.tv_sec, st.st_mtim.tv_sec)});
        }
    }
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return a.usedAt < b.usedAt; });
    std::lock_guard lock(mutex_);
    for (const auto& f : found) {
        noteUsedLocked(f.id, f.size, false);
    }
    evictLocked();
}

uint64_t ContentCache::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

void ContentCache::noteUsedLocked(const ObjectId& id, uint64_t size, bool verified) {
    if (auto it = index_.find(id); it != index_.end()) {
        bytes_ -= it->second->size;
        it->second->size = size;
        it->second->verified = verified;
        lru_.splice(lru_.begin(), lru_, it->second);
    } else {
        lru_.push_front(Entry{id, size, verified});
        index_.emplace(id, lru_.begin());
    }
    bytes_ += size;
}

void ContentCache::forgetLocked(const ObjectId& id) {
    if (auto it = index_.find(id); it != index_.end()) {
        bytes_ -= it->second->size;
        lru_.erase(it->second);
        index_.erase(it);
    }
}

void ContentCache::evictLocked() {
    while (bytes_ > budgetBytes_ && !lru_.empty()) {
        const Entry& victim = lru_.back();
        // Unlinking under the lock keeps a concurrent re-materialization of the same id from
        // being deleted right after its rename; open fds on the old file stay valid.
        if (::unlink(pathFor(victim.id).c_str()) != 0 && errno != ENOENT) {
            spdlog::warn("content cache: cannot evict {}: {}", pathFor(victim.id).string(),
                         std::generic_category().message(errno));
        }
        bytes_ -= victim.size;
        index_.erase(victim.id);
        lru_.pop_back();
    }
}

UniqueFd ContentCache::tryOpen(const ObjectId& id, const Validator& isValid) {
    const std::filesystem::path path = pathFor(id);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno != ENOENT && errno != ENOTDIR) {
            throwIo("open " + path.string(), errno);
        }
        return fd;
    }
    bool verified = false;
    {
        std::lock_guard lock(mutex_);
        auto it = index_.find(id);
        verified = it != index_.end() && it->second->verified;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        isValid(fd.get(), static_cast<uint64_t>(st.st_size), !verified)) {
        std::lock_guard lock(mutex_);
        noteUsedLocked(id, static_cast<uint64_t>(st.st_size), true);
        return fd;
    }
    spdlog::warn("content cache: {} does not hold blob {} ({} bytes on disk); replacing it",
                 path.string(), id.hex(), static_cast<uint64_t>(st.st_size));
    return {};
}

UniqueFd ContentCache::lookup(const ObjectId& id, const Validator& isValid) {
    return tryOpen(id, isValid);
}

ContentCache::Opened ContentCache::open(const ObjectId& id, const Validator& isValid,
                                        const Materializer& materialize) {
    return open(id, isValid, [&](int fd) {
        materialize([&](const void* data, size_t size) {
            const char* p = static_cast<const char*>(data);
            while (size > 0) {
                ssize_t put = ::write(fd, p, size);
                if (put < 0) {
                    if (errno == EINTR) {
                        continue;
                    }
                    throwIo("", errno);  // ENOSPC reads "content cache <dir>: No space left ..."
                }
                p += put;
                size -= static_cast<size_t>(put);
            }
        });
    });
}

ContentCache::Opened ContentCache::open(const ObjectId& id, const Validator& isValid,
                                        const FileWriter& writeTo) {
    while (true) {
        if (UniqueFd fd = tryOpen(id, isValid)) {
            return Opened{std::move(fd), true};
        }
        std::unique_lock lock(mutex_);
        if (materializing_.count(id) != 0) {
            // Another thread is writing this blob: wait for its rename, then look again.
            materialized_.wait(lock, [&] { return materializing_.count(id) == 0; });
            continue;
        }
        forgetLocked(id);
        materializing_.insert(id);
        lock.unlock();
        MaterializingGuard guard(mutex_, materializing_, materialized_, id);
        UniqueFd written = writeFile(id, writeTo);
        struct stat st {};
        if (::fstat(written.get(), &st) != 0) {
            throwIo("stat " + pathFor(id).string(), errno);
        }
        lock.lock();
        noteUsedLocked(id, static_cast<uint64_t>(st.st_size), true);
        evictLocked();
        lock.unlock();  // before the guard takes the mutex again
        return Opened{std::move(written), false};
    }
}

UniqueFd ContentCache::writeFile(const ObjectId& id, const FileWriter& writeTo) {
    const std::filesystem::path path = pathFor(id);
    const std::filesystem::path folder = path.parent_path();
    auto makeFolder = [&] { return ::mkdir(folder.c_str(), 0700) == 0 || errno == EEXIST; };
    if (!makeFolder()) {
        int error = errno;
        if (error == ENOENT) {
            // The cache folder itself is gone (deleted under the running daemon): made anew, so
            // the next read caches again instead of failing until a restart.
            spdlog::warn("content cache folder {} vanished; creating it again", dir_.string());
            try {
                ensurePrivateDirectory(dir_);
            } catch (const std::system_error& e) {
                throw StoreError(StoreErrc::Io, std::string("content cache: ") + e.what());
            }
            error = makeFolder() ? 0 : errno;
        }
        if (error != 0) {
            throwIo("create " + folder.string(), error);
        }
    }
    std::string tempName =
        (folder / (std::string(kTempPrefix) + path.filename().string() + "-XXXXXX")).string();
    UniqueFd out(::mkostemp(tempName.data(), O_CLOEXEC));  // mode 0600
    if (!out) {
        throwIo("create temp file in " + folder.string(), errno);
    }
    // Removes the temp file unless it was renamed into place.
    struct TempFile {
        std::string path;
        bool keep = false;
        ~TempFile() {
            if (!keep) {
                ::unlink(path.c_str());
            }
        }
    } temp{tempName};

    writeTo(out.get());
    // Reopen read-only before the rename so the fd we hand out is the file we just wrote, even
    // if another process replaces or evicts the final name at once.
    UniqueFd in(::open(tempName.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) {
        throwIo("reopen " + tempName, errno);
    }
    if (::rename(tempName.c_str(), path.c_str()) != 0) {
        throwIo("rename into " + path.string(), errno);
    }
    temp.keep = true;
    return in;
}

}  // namespace megafuse::store
