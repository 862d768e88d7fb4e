// StoreTestSupport: real Git repositories built with the git CLI in temp folders, and a TCP
// server that accepts and never answers — the parts the store tests run against.
#pragma once

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/UniqueFd.hpp"

namespace megafuse::test {

// A fresh folder under $TMPDIR, removed with everything in it when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Runs git with a fixed identity and dates (deterministic ids); throws std::runtime_error with
// git's stderr when it fails. Returns stdout without the trailing newline.
std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args);

// Every byte of the file behind fd, read with pread from offset 0 (the fd's offset untouched).
std::string readAll(const UniqueFd& fd);

void writeFile(const std::filesystem::path& file, const std::string& content);

// A repository with every entry kind and the revisions the tests resolve:
//   README.md ("hello\n"), empty.txt (0 bytes), bin/run.sh (100755), link -> README.md,
//   a/b/c/deep.txt, "odd name ü #1.txt", "-dash", "tab\tname", sub (gitlink)
//   branch main (2 commits: "first", "second" adds second.txt), branch feature (third commit),
//   tag v1 (lightweight, first commit), tag v1-annotated (annotated, second commit).
// It is a server too: uploadpack.allowFilter and allowAnySHA1InWant are on.
struct SampleRepo {
    std::filesystem::path path;
    std::string firstCommit;
    std::string secondCommit;
    std::string featureCommit;
    [[nodiscard]] std::string url() const { return "file://" + path.string(); }
};
SampleRepo makeSampleRepo(const std::filesystem::path& dir);

// Listens on 127.0.0.1:<port>, accepts connections and never sends a byte: a hung server.
class SilentServer {
public:
    SilentServer();
    ~SilentServer();
    SilentServer(const SilentServer&) = delete;
    SilentServer& operator=(const SilentServer&) = delete;
    [[nodiscard]] int port() const { return port_; }

private:
    UniqueFd listener_;
    UniqueFd stopRead_;
    UniqueFd stopWrite_;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace megafuse::test
