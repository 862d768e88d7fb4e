// TreeCompare: a walk with opendir/lstat/readlink/read — the same system calls a user's tools
// make, so what the kernel and the daemon answer is what gets compared.
#include "support/TreeCompare.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "common/Subprocess.hpp"
#include "common/UniqueFd.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {
namespace {

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

const char* typeName(mode_t mode) {
    if (S_ISREG(mode)) {
        return "file";
    }
    if (S_ISDIR(mode)) {
        return "directory";
    }
    if (S_ISLNK(mode)) {
        return "symlink";
    }
    return "special";
}

class Comparer {
public:
    explicit Comparer(size_t maxDifferences) : max_(maxDifferences) {}

    void compareDirectory(const std::filesystem::path& expected,
                          const std::filesystem::path& actual, const std::string& relative);

    // Any two entries (file, symlink or directory), compared as the walk compares them.
    void compareTopEntry(const std::filesystem::path& expected,
                         const std::filesystem::path& actual) {
        compareEntry(expected, actual, actual.filename().string());
    }

    std::vector<std::string> take() && {
        if (truncated_) {
            differences_.emplace_back("... (more differences not shown)");
        }
        return std::move(differences_);
    }

private:
    [[nodiscard]] bool full() const { return differences_.size() >= max_; }
    void add(const std::string& relative, const std::string& what) {
        if (full()) {
            truncated_ = true;
            return;
        }
        differences_.push_back((relative.empty() ? std::string(".") : printable(relative)) + ": " +
                               what);
    }
    // Sorted names (raw bytes) of a directory, or nullopt with a difference recorded.
    std::optional<std::set<std::string>> list(const std::filesystem::path& dir,
                                              const std::string& relative, const char* side);
    void compareEntry(const std::filesystem::path& expected, const std::filesystem::path& actual,
                      const std::string& relative);
    void compareFileBytes(const std::filesystem::path& expected,
                          const std::filesystem::path& actual, const std::string& relative);

    size_t max_;
    bool truncated_ = false;
    std::vector<std::string> differences_;
};

std::optional<std::set<std::string>> Comparer::list(const std::filesystem::path& dir,
                                                    const std::string& relative, const char* side) {
    std::unique_ptr<DIR, DirCloser> handle(::opendir(dir.c_str()));
    if (!handle) {
        add(relative, std::string("opendir on the ") + side + " side: " + errnoText(errno));
        return std::nullopt;
    }
    std::set<std::string> names;
    errno = 0;
    // readdir is safe on a DIR no other thread uses (glibc); readdir_r is deprecated.
    while (const dirent* entry = ::readdir(handle.get())) {  // NOLINT(concurrency-mt-unsafe)
        std::string name(entry->d_name);
        if (name != "." && name != "..") {
            if (!names.insert(name).second) {
                add(relative,
                    std::string("the ") + side + " side lists \"" + printable(name) + "\" twice");
            }
        }
        errno = 0;
    }
    if (errno != 0) {
        add(relative, std::string("readdir on the ") + side + " side: " + errnoText(errno));
    }
    return names;
}

void Comparer::compareDirectory(const std::filesystem::path& expected,
                                const std::filesystem::path& actual, const std::string& relative) {
    auto expectedNames = list(expected, relative, "expected");
    auto actualNames = list(actual, relative, "actual");
    if (!expectedNames || !actualNames) {
        return;
    }
    const auto join = [&relative](const std::string& name) {
        return relative.empty() ? name : relative + "/" + name;
    };
    for (const auto& name : *expectedNames) {
        if (actualNames->count(name) == 0) {
            add(join(name), "missing from the mount");
        }
    }
    for (const auto& name : *actualNames) {
        if (expectedNames->count(name) == 0) {
            add(join(name), "in the mount but not in Git");
        }
    }
    for (const auto& name : *expectedNames) {
        if (actualNames->count(name) != 0) {
            compareEntry(expected / name, actual / name, join(name));
        }
    }
}

void Comparer::compareEntry(const std::filesystem::path& expected,
                            const std::filesystem::path& actual, const std::string& relative) {
    struct stat want {};
    struct stat got {};
    if (::lstat(expected.c_str(), &want) != 0) {
        add(relative, "lstat on the expected side: " + errnoText(errno));
        return;
    }
    if (::lstat(actual.c_str(), &got) != 0) {
        add(relative, "lstat: " + errnoText(errno));
        return;
    }
    if ((want.st_mode & S_IFMT) != (got.st_mode & S_IFMT)) {
        add(relative,
            std::string("type ") + typeName(got.st_mode) + ", expected " + typeName(want.st_mode));
        return;
    }
    if (S_ISDIR(want.st_mode)) {
        compareDirectory(expected, actual, relative);
    } else if (S_ISLNK(want.st_mode)) {
        std::error_code wantError;
        std::error_code gotError;
        auto wantTarget = std::filesystem::read_symlink(expected, wantError).string();
        auto gotTarget = std::filesystem::read_symlink(actual, gotError).string();
        if (gotError) {
            add(relative, "readlink: " + gotError.message());
        } else if (wantTarget != gotTarget) {
            add(relative, "symlink target \"" + printable(gotTarget) + "\", expected \"" +
                              printable(wantTarget) + "\"");
        }
        if (!gotError && static_cast<size_t>(got.st_size) != gotTarget.size()) {
            add(relative, "symlink st_size " + std::to_string(got.st_size) + ", its target has " +
                              std::to_string(gotTarget.size()) + " bytes");
        }
    } else if (S_ISREG(want.st_mode)) {
        const bool wantExec = (want.st_mode & S_IXUSR) != 0;
        const bool gotExec = (got.st_mode & S_IXUSR) != 0;
        if (wantExec != gotExec) {
            add(relative, gotExec ? "executable, expected not executable"
                                  : "not executable, expected executable");
        }
        if (want.st_size != got.st_size) {
            add(relative, "st_size " + std::to_string(got.st_size) + ", expected " +
                              std::to_string(want.st_size));
        }
        compareFileBytes(expected, actual, relative);
    }
}

void Comparer::compareFileBytes(const std::filesystem::path& expected,
                                const std::filesystem::path& actual, const std::string& relative) {
    UniqueFd want(::open(expected.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!want) {
        add(relative, "open on the expected side: " + errnoText(errno));
        return;
    }
    UniqueFd got(::open(actual.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!got) {
        add(relative, "open: " + errnoText(errno));
        return;
    }
    constexpr size_t kChunk = 1U << 20U;
    std::vector<char> wantBuffer(kChunk);
    std::vector<char> gotBuffer(kChunk);
    uint64_t offset = 0;
    for (;;) {
        // Fill both chunks fully: FUSE may legally return short reads.
        const auto fill = [](int fd, std::vector<char>& buffer) -> ssize_t {
            size_t filled = 0;
            while (filled < buffer.size()) {
                ssize_t n = ::read(fd, buffer.data() + filled, buffer.size() - filled);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0) {
                    return -1;
                }
                if (n == 0) {
                    break;
                }
                filled += static_cast<size_t>(n);
            }
            return static_cast<ssize_t>(filled);
        };
        ssize_t wantBytes = fill(want.get(), wantBuffer);
        ssize_t gotBytes = fill(got.get(), gotBuffer);
        if (gotBytes < 0) {
            add(relative, "read at offset " + std::to_string(offset) + ": " + errnoText(errno));
            return;
        }
        if (wantBytes < 0) {
            add(relative, "read on the expected side: " + errnoText(errno));
            return;
        }
        const auto common = static_cast<std::ptrdiff_t>(std::min(wantBytes, gotBytes));
        auto mismatch =
            std::mismatch(wantBuffer.begin(), wantBuffer.begin() + common, gotBuffer.begin());
        if (mismatch.first != wantBuffer.begin() + common) {
            add(relative, "bytes differ from offset " +
                              std::to_string(offset + static_cast<uint64_t>(mismatch.first -
                                                                            wantBuffer.begin())));
            return;
        }
        if (wantBytes != gotBytes) {
            add(relative, "read " + std::to_string(offset + static_cast<uint64_t>(gotBytes)) +
                              " bytes, expected " +
                              std::to_string(offset + static_cast<uint64_t>(wantBytes)));
            return;
        }
        if (wantBytes == 0) {
            return;
        }
        offset += static_cast<uint64_t>(wantBytes);
    }
}

}  // namespace

void extractRevision(const std::filesystem::path& repo, const std::string& revision,
                     const std::string& subPath, const std::filesystem::path& dest) {
    std::filesystem::create_directories(dest);
    const std::string treeish = subPath.empty() ? revision : revision + ":" + subPath;
    const auto archive = dest.parent_path() / (dest.filename().string() + ".tar");
    git(repo, {"archive", "--format=tar", "--output=" + archive.string(), treeish});
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(120);
    auto result =
        runSubprocess({"tar", "-x", "-f", archive.string(), "-C", dest.string()}, options);
    std::filesystem::remove(archive);
    if (!result.ok()) {
        throw HarnessError("tar -x of git archive " + treeish + " failed: " + result.describe());
    }
}

std::vector<std::string> compareTrees(const std::filesystem::path& expected,
                                      const std::filesystem::path& actual, size_t maxDifferences) {
    Comparer comparer(maxDifferences);
    comparer.compareDirectory(expected, actual, "");
    return std::move(comparer).take();
}

std::vector<std::string> compareEntries(const std::filesystem::path& expected,
                                        const std::filesystem::path& actual) {
    Comparer comparer(50);
    comparer.compareTopEntry(expected, actual);
    return std::move(comparer).take();
}

std::string joinDifferences(const std::vector<std::string>& differences) {
    std::string text;
    for (const auto& line : differences) {
        text += "  " + line + "\n";
    }
    return text;
}

}  // namespace megafuse::test
