// PartialClone: layout, first clone and ref refresh of a remote source's bare partial clone.
#include "store/PartialClone.hpp"

#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <memory>
#include <system_error>

#include "common/Log.hpp"
#include "common/Paths.hpp"
#include "store/FileLock.hpp"
#include "store/GitCli.hpp"
#include "store/Libgit2.hpp"
#include "store/StoreError.hpp"

namespace megafuse::store {
namespace {

constexpr size_t kMaxNameChars = 80;

using GitConfigPtr = std::unique_ptr<git_config, GitDeleter<git_config, git_config_free>>;

uint32_t fnv1a32(std::string_view text) {
    uint32_t hash = 2166136261U;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 16777619U;
    }
    return hash;
}

// "https://user:pw@host:8080/group/repo.git" → "host_8080_group_repo"
std::string sanitizedHostAndPath(const std::string& url) {
    std::string_view rest = url;
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
        rest.remove_prefix(scheme + 3);
    }
    auto slash = rest.find('/');
    if (auto at = rest.substr(0, slash).rfind('@'); at != std::string_view::npos) {
        rest.remove_prefix(at + 1);  // never put credentials into a folder name
    }
    std::string name;
    for (char c : rest) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
        char out = keep ? c : '_';
        if (out == '_' && (name.empty() || name.back() == '_')) {
            continue;
        }
        name.push_back(out);
    }
    while (!name.empty() && (name.back() == '_' || name.back() == '.')) {
        name.pop_back();
    }
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".git") == 0) {
        name.resize(name.size() - 4);
    }
    while (!name.empty() && (name.front() == '.' || name.front() == '-')) {
        name.erase(name.begin());  // no hidden folders, nothing that reads as an option
    }
    if (name.size() > kMaxNameChars) {
        name.resize(kMaxNameChars);
    }
    return name.empty() ? std::string("repo") : name;
}

std::filesystem::path lockPathFor(const std::filesystem::path& clone) {
    return clone.parent_path() / (clone.filename().string() + ".lock");
}

[[noreturn]] void throwGitFailure(StoreErrc otherwise, const std::string& what,
                                  const SubprocessResult& result) {
    throw StoreError(result.timedOut ? StoreErrc::Timeout : otherwise,
                     redactCredentials(what + ": " + result.describe()));
}

}  // namespace

std::filesystem::path partialClonePath(const std::filesystem::path& cacheDir,
                                       const std::string& url) {
    return cacheDir / "sources" /
           (sanitizedHostAndPath(url) + "-" + fmt::format("{:08x}", fnv1a32(url)) + ".git");
}

namespace {

// A bare clone has no fetch refspec; blob fetches must not trigger git's auto-gc inside a
// reader's round trip (a repack of a large repository takes minutes). Written with libgit2 in
// this process: a `git config` run per setting cost four process starts on every first mount.
void configureClone(const std::filesystem::path& clone, const std::string& shown) {
    ensureLibgit2();
    const std::filesystem::path file = clone / "config";
    git_config* raw = nullptr;
    if (git_config_open_ondisk(&raw, file.c_str()) != 0) {
        throw StoreError(StoreErrc::BadSource,
                         gitErrorText("configure clone of " + shown + ": open " + file.string()));
    }
    const GitConfigPtr config(raw);
    // "^$" matches no value git wrote: both refspecs are added, as by `git config --add`.
    const bool failed = git_config_set_multivar(config.get(), "remote.origin.fetch", "^$",
                                                "+refs/heads/*:refs/heads/*") != 0 ||
                        git_config_set_multivar(config.get(), "remote.origin.fetch", "^$",
                                                "+refs/tags/*:refs/tags/*") != 0 ||
                        git_config_set_int32(config.get(), "gc.auto", 0) != 0 ||
                        git_config_set_bool(config.get(), "maintenance.auto", 0) != 0;
    if (failed) {
        throw StoreError(StoreErrc::BadSource,
                         gitErrorText("configure clone of " + shown + ": write " + file.string()));
    }
}

// The clone itself, with the clone's lock held and no usable clone in place.
void cloneLocked(const std::filesystem::path& clone, const std::string& url,
                 std::chrono::steady_clock::time_point started, std::chrono::milliseconds timeout,
                 const CloneProgressFn& progress) {
    std::error_code ec;
    const std::string shown = redactCredentials(url);
    // Leftovers of a clone that crashed or timed out: we hold the lock, nobody else writes them.
    const std::string tempPrefix = clone.filename().string() + ".tmp-";
    for (const auto& entry : std::filesystem::directory_iterator(clone.parent_path(), ec)) {
        if (entry.path().filename().string().rfind(tempPrefix, 0) == 0) {
            std::filesystem::remove_all(entry.path(), ec);
        }
    }
    const std::filesystem::path temp =
        clone.parent_path() / (tempPrefix + std::to_string(::getpid()));
    struct RemoveTemp {
        std::filesystem::path path;
        ~RemoveTemp() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    } cleanup{temp};

    spdlog::info("cloning {} (blob:none) into {}", shown, clone.string());
    auto left = [&] {
        return std::max(std::chrono::milliseconds(1),
                        timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started));
    };
    // --progress: git prints progress only to a terminal unless asked; stderr is a pipe here.
    CloneProgressParser parser;
    if (progress) {
        progress(CloneProgressUpdate{});  // started; the server counts before it sends
    }
    // --template= (none): the sample hooks, description and info/exclude serve no bare cache,
    // and copying them from a cold disk delays every first mount.
    auto result = runGit({"clone", "--bare", "--progress", "--filter=blob:none",
                          "--template=", "--", url, temp.string()},
                         left(), [&](std::string_view chunk) {
                             for (const CloneProgressUpdate& update : parser.feed(chunk)) {
                                 if (progress) {
                                     progress(update);
                                 }
                             }
                         });
    if (!result.ok()) {
        result.err = parser.messages();
        throwGitFailure(StoreErrc::BadSource, "clone of " + shown + " failed", result);
    }
    configureClone(temp, shown);
    std::filesystem::rename(temp, clone, ec);
    if (ec) {
        throw StoreError(StoreErrc::Io,
                         "rename " + temp.string() + " to " + clone.string() + ": " + ec.message());
    }
}

void ensureSourcesFolder(const std::filesystem::path& clone) {
    try {
        ensurePrivateDirectory(clone.parent_path());
    } catch (const std::system_error& e) {
        throw StoreError(StoreErrc::Io, e.what());
    }
}

}  // namespace

bool partialCloneUsable(const std::filesystem::path& clone) {
    std::error_code ec;
    return std::filesystem::exists(clone / "HEAD", ec) &&
           std::filesystem::is_directory(clone / "objects" / "pack", ec);
}

std::filesystem::path ensurePartialClone(const std::filesystem::path& cacheDir,
                                         const std::string& url, std::chrono::milliseconds timeout,
                                         const CloneProgressFn& progress) {
    std::filesystem::path clone = partialClonePath(cacheDir, url);
    std::error_code ec;
    if (std::filesystem::exists(clone / "HEAD", ec)) {
        return clone;  // renamed into place only when complete
    }
    ensureSourcesFolder(clone);
    const auto started = std::chrono::steady_clock::now();
    FileLock lock(lockPathFor(clone), timeout);
    if (std::filesystem::exists(clone / "HEAD", ec)) {
        return clone;  // another process cloned while we waited
    }
    cloneLocked(clone, url, started, timeout, progress);
    return clone;
}

bool recreatePartialClone(const std::filesystem::path& cacheDir, const std::string& url,
                          std::chrono::milliseconds timeout) {
    const std::filesystem::path clone = partialClonePath(cacheDir, url);
    ensureSourcesFolder(clone);  // gone too when the whole cache folder was deleted
    const auto started = std::chrono::steady_clock::now();
    FileLock lock(lockPathFor(clone), timeout);
    if (partialCloneUsable(clone)) {
        return false;  // another store or process re-created it while we waited
    }
    // What is left of it (a folder emptied by hand, a HEAD without objects) is no cache worth
    // keeping: every object in it can be fetched again.
    std::error_code ec;
    std::filesystem::remove_all(clone, ec);
    if (ec) {
        throw StoreError(StoreErrc::Io,
                         "remove the remains of " + clone.string() + ": " + ec.message());
    }
    cloneLocked(clone, url, started, timeout, {});
    return true;
}

void fetchRefs(const std::filesystem::path& clone, std::chrono::milliseconds timeout) {
    const auto started = std::chrono::steady_clock::now();
    FileLock lock(lockPathFor(clone), timeout);
    auto left = std::max(std::chrono::milliseconds(1),
                         timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - started));
    auto result = runGit({"-C", clone.string(), "fetch", "--prune", "--quiet",
                          "--no-write-fetch-head", "--recurse-submodules=no", "origin"},
                         left);
    if (!result.ok()) {
        throwGitFailure(StoreErrc::FetchFailed, "fetch of refs failed", result);
    }
}

void fetchCommitById(const std::filesystem::path& clone, const ObjectId& id,
                     std::chrono::milliseconds timeout) {
    auto result = runGit({"-C", clone.string(), "fetch", "--quiet", "--no-tags",
                          "--no-write-fetch-head", "--recurse-submodules=no", "origin", id.hex()},
                         timeout);
    if (!result.ok()) {
        throwGitFailure(StoreErrc::FetchFailed, "fetch of commit " + id.hex() + " failed", result);
    }
}

}  // namespace megafuse::store
