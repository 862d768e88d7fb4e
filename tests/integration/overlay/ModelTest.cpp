// ModelTest: a randomized sequence of create/write/truncate/rename/unlink/mkdir/rmdir/symlink/
// chmod/setxattr/removexattr steps applied to the mount and to a native checkout of the same base;
// every step must give the same errno, and the trees must be equal at the end and again after a
// remount over the same overlay (user.* extended attributes included). The seed is printed;
// MEGAFUSE_SEED=<seed> replays a failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <random>

#include "WritableFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

using Path = std::filesystem::path;

// Thousands of steps, as the issue asks; MEGAFUSE_MODEL_STEPS runs longer sequences by hand.
int stepCount() {
    const char* text = std::getenv("MEGAFUSE_MODEL_STEPS");
    return text != nullptr && std::atoi(text) > 0 ? std::atoi(text) : 2500;
}

// Relative paths of everything below root (symlinks not followed), root itself as "".
std::vector<std::string> entriesOf(const Path& root, bool directoriesOnly) {
    std::vector<std::string> paths{""};
    for (auto it = std::filesystem::recursive_directory_iterator(root);
         it != std::filesystem::recursive_directory_iterator(); ++it) {
        // symlink_status: a symlink loop the steps made must not throw.
        const bool dir = it->symlink_status().type() == std::filesystem::file_type::directory;
        if (!directoriesOnly || dir) {
            paths.push_back(it->path().lexically_relative(root).string());
        }
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

// Every path's user.* extended attributes ("path: name=value ..."), symlinks not followed.
std::string xattrsOf(const Path& root) {
    std::string out;
    for (const std::string& path : entriesOf(root, false)) {
        const Path full = root / path;
        std::vector<char> list(1 << 16);
        const ssize_t n = ::llistxattr(full.c_str(), list.data(), list.size());
        std::vector<std::string> names;
        for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(&list[i]) + 1)) {
            if (std::strncmp(&list[i], "user.", 5) == 0) {
                names.emplace_back(&list[i]);
            }
        }
        if (names.empty()) {
            continue;
        }
        std::sort(names.begin(), names.end());
        out += path + ":";
        for (const std::string& name : names) {
            std::vector<char> value(1 << 16);
            const ssize_t size =
                ::lgetxattr(full.c_str(), name.c_str(), value.data(), value.size());
            out += " " + name + "=" +
                   std::string(value.data(), static_cast<size_t>(std::max<ssize_t>(size, 0)));
        }
        out += "\n";
    }
    return out;
}

class Step {
public:
    explicit Step(std::mt19937_64& random, const Path& native) : random_(random) {
        const auto all = entriesOf(native, false);
        const auto dirs = entriesOf(native, true);
        kind_ = pick(11);
        a_ = all[1 + pick(all.size() - 1)];  // never the mount point itself (EBUSY there)
        dir_ = dirs[pick(dirs.size())];
        name_ = "n" + std::to_string(pick(12));
        bytes_ =
            std::string(pick(3) == 0 ? pick(70000) : pick(200), static_cast<char>('a' + pick(26)));
        offset_ = static_cast<off_t>(pick(3) == 0 ? pick(5000) : 0);
        flag_ = pick(2) == 0;
        xattrName_ = "user.x" + std::to_string(pick(3));
        xattrFlags_ = std::array<int, 3>{0, XATTR_CREATE, XATTR_REPLACE}[pick(3)];
    }

    [[nodiscard]] std::string describe() const {
        static const char* kinds[] = {"write",  "truncate", "rename",     "unlink",
                                      "mkdir",  "rmdir",    "symlink",    "chmod",
                                      "create", "setxattr", "removexattr"};
        return std::string(kinds[kind_]) + " a=" + a_ + " dir=" + dir_ + " name=" + name_ +
               " bytes=" + std::to_string(bytes_.size()) + " off=" + std::to_string(offset_) +
               " flag=" + std::to_string(flag_) + " xattr=" + xattrName_ +
               " xattr-flags=" + std::to_string(xattrFlags_);
    }

    [[nodiscard]] int apply(const Path& root) const {
        const Path a = root / a_;
        const Path target = root / dir_ / name_;
        switch (kind_) {
            case 0: {  // write at an offset into an existing path (or a new one)
                UniqueFd fd(
                    ::open((flag_ ? target : a).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
                if (!fd) {
                    return errno;
                }
                return ::pwrite(fd.get(), bytes_.data(), bytes_.size(), offset_) < 0 ? errno : 0;
            }
            case 1:
                return errnoOf([&] { return ::truncate(a.c_str(), offset_); });
            case 2:
                return errnoOf([&] { return ::rename(a.c_str(), target.c_str()); });
            case 3:
                return errnoOf([&] { return ::unlink(a.c_str()); });
            case 4:
                return errnoOf([&] { return ::mkdir(target.c_str(), 0755); });
            case 5:
                return errnoOf([&] { return ::rmdir(a.c_str()); });
            case 6:
                return errnoOf([&] { return ::symlink(a_.c_str(), target.c_str()); });
            case 7:
                return errnoOf([&] { return ::chmod(a.c_str(), flag_ ? 0755 : 0644); });
            case 9: {  // a small value: ext4 keeps a file's attributes in one block
                const std::string value = bytes_.substr(0, offset_ % 300);
                return errnoOf([&] {
                    return ::lsetxattr(a.c_str(), xattrName_.c_str(), value.data(), value.size(),
                                       xattrFlags_);
                });
            }
            case 10:
                return errnoOf([&] { return ::lremovexattr(a.c_str(), xattrName_.c_str()); });
            default: {
                UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
                if (!fd) {
                    return errno;
                }
                return ::write(fd.get(), bytes_.data(), bytes_.size()) < 0 ? errno : 0;
            }
        }
    }

private:
    size_t pick(size_t n) { return static_cast<size_t>(random_() % n); }

    std::mt19937_64& random_;
    size_t kind_ = 0;
    std::string a_;
    std::string dir_;
    std::string name_;
    std::string bytes_;
    off_t offset_ = 0;
    bool flag_ = false;
    std::string xattrName_;
    int xattrFlags_ = 0;
};

class ModelTest : public WritableFixture {};

TEST_F(ModelTest, RandomStepsMatchANativeFolderAndSurviveARemount) {
    uint64_t seed = std::random_device{}();
    if (const char* fixed = std::getenv("MEGAFUSE_SEED")) {  // NOLINT(concurrency-mt-unsafe)
        seed = std::strtoull(fixed, nullptr, 10);
    }
    std::cout << "model seed: " << seed << " (replay with MEGAFUSE_SEED=" << seed << ")\n";
    SCOPED_TRACE("MEGAFUSE_SEED=" + std::to_string(seed));
    std::mt19937_64 random(seed);

    const Path native = nativeCopy("native");
    auto daemon = mount();
    int mismatches = 0;
    const int steps = stepCount();
    for (int i = 0; i < steps && mismatches < 5; ++i) {
        const Step step(random, native);
        const int expected = step.apply(native);
        const int actual = step.apply(mountPoint());
        if (expected != actual) {
            ++mismatches;
            ADD_FAILURE() << "step " << i << " " << step.describe() << ": native "
                          << std::strerror(expected) << ", mount " << std::strerror(actual);
        }
    }
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint())), "");
    const std::string nativeXattrs = xattrsOf(native);
    EXPECT_EQ(xattrsOf(mountPoint()), nativeXattrs);
    daemon->stop();

    auto again = mount();
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint())), "") << "after a remount";
    EXPECT_EQ(xattrsOf(mountPoint()), nativeXattrs) << "after a remount";
    again->stop();
}

}  // namespace
}  // namespace megafuse::test
