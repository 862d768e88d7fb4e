// WritableFixture: the base repository and the writable mount helpers.
#include "WritableFixture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <thread>

#include "support/Git.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {

void WritableFixture::SetUp() {
    if (!MegaFused::available()) {
        GTEST_FAIL() << "mega-fused is not built (MEGAFUSED_BIN=\"" << MegaFused::binary().string()
                     << "\")";
    }
    // Written as a work tree and committed with one `git add`: hundreds of plumbing calls would
    // cost seconds per test on a loaded machine.
    const auto put = [this](const std::string& path, const std::string& bytes) {
        std::filesystem::create_directories((origin() / path).parent_path());
        writeFile(origin() / path, bytes);
    };
    git(dir_.path(), {"init", "-q", "-b", "main", origin().string()});
    put("README.md", "# base\nhello\n");
    put("src/main.c", "#include \"util.h\"\nint main(void) { return util(); }\n");
    put("src/util.c", "#include \"util.h\"\nint util(void) { return 0; }\n");
    put("src/util.h", "int util(void);\n");
    put("src/deep/er/leaf.txt", "leaf\n");
    put("bin/run.sh", "#!/bin/sh\necho run\n");
    std::filesystem::permissions(origin() / "bin/run.sh", std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    std::filesystem::create_symlink("README.md", origin() / "link-to-readme");
    std::filesystem::create_symlink("../nowhere", origin() / "src/dangling");
    put("docs/a.txt", std::string(10000, 'a'));
    put("docs/b.txt", "b\n");
    for (int i = 0; i < kManyFiles; ++i) {
        put("many/file-" + std::to_string(i) + ".txt",
            "content of file " + std::to_string(i) + "\n");
    }
    git(origin(), {"add", "-A"});
    git(origin(), {"commit", "-q", "-m", "base"});
    baseCommit_ = gitLine(origin(), {"rev-parse", "HEAD"});
    std::filesystem::create_directories(mountPoint());
}

MountRequest WritableFixture::writableRequest() const {
    MountRequest request;
    request.source = origin().string();
    request.mountPoint = mountPoint();
    request.cacheDir = dir_ / "cache";
    request.writable = true;
    request.overlayDir = overlayDir();
    request.logLevel = "info";
    return request;
}

std::unique_ptr<MegaFused> WritableFixture::mount() {
    ++mounts_;
    return std::make_unique<MegaFused>(writableRequest(),
                                       dir_ / ("mega-fused-" + std::to_string(mounts_) + ".log"));
}

std::filesystem::path WritableFixture::nativeCopy(const std::string& name) {
    auto dest = dir_ / name;
    extractRevision(origin(), baseCommit_, "", dest);
    return dest;
}

SubprocessResult shell(const std::string& command, const std::filesystem::path& cwd,
                       std::chrono::seconds timeout) {
    SubprocessOptions options;
    options.workingDirectory = cwd.string();
    options.timeout = timeout;
    options.extraEnvironment = {{"GIT_CONFIG_NOSYSTEM", "1"},
                                {"GIT_CONFIG_GLOBAL", "/dev/null"},
                                {"GIT_AUTHOR_NAME", "t"},
                                {"GIT_AUTHOR_EMAIL", "t@example.com"},
                                {"GIT_COMMITTER_NAME", "t"},
                                {"GIT_COMMITTER_EMAIL", "t@example.com"},
                                {"LC_ALL", "C"}};
    return runSubprocess({"sh", "-c", command}, options);
}

int errnoOf(const std::function<int()>& fn) {
    errno = 0;
    return fn() < 0 ? errno : 0;
}

void writeFile(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.close();
    if (!out) {
        throw HarnessError("cannot write " + path.string());
    }
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw HarnessError("cannot read " + path.string());
    }
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool waitUntilUnmounted(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (isFuseMount(path)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

}  // namespace megafuse::test
