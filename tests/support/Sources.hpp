// Sources: one origin repository offered to mega-fused as each source kind it accepts — a local
// path, file://, git:// (a real git daemon) or http:// (real lighttpd + git-http-backend) — so a
// test can be written once and run against every kind.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "support/GitDaemon.hpp"
#include "support/HttpGitServer.hpp"

namespace megafuse::test {

enum class SourceKind { LocalPath, FileUrl, GitDaemon, Http };

// "LocalPath", "FileUrl", ...: for parameterized test names.
std::string_view toString(SourceKind kind);
// GoogleTest prints parameters with this (found by ADL): names, not bytes, in test names.
// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest's customization point.
inline void PrintTo(SourceKind kind, std::ostream* out) {
    *out << toString(kind);
}
// True for the kinds the daemon reaches through a partial clone in its cache.
bool isRemote(SourceKind kind);

class ServedSource {
public:
    static constexpr const char* kRepositoryName = "sample.git";

    // Offers origin as kind; servers and published copies live in workDir.
    ServedSource(SourceKind kind, const std::filesystem::path& origin,
                 const std::filesystem::path& workDir);

    [[nodiscard]] SourceKind kind() const { return kind_; }
    // SOURCE as mega-fused takes it.
    [[nodiscard]] const std::string& source() const { return source_; }
    // The repository the server serves (a bare copy), or origin for the local kinds.
    [[nodiscard]] const std::filesystem::path& servedRepository() const { return served_; }
    // The git daemon (GitDaemon kind only), for outage tests.
    [[nodiscard]] GitDaemon* gitDaemon() const { return gitDaemon_.get(); }

private:
    SourceKind kind_;
    std::string source_;
    std::filesystem::path served_;
    std::unique_ptr<GitDaemon> gitDaemon_;
    std::unique_ptr<HttpGitServer> http_;
};

}  // namespace megafuse::test
