// Sources: servers serve a bare published copy, as a real server would; local kinds use origin.
#include "support/Sources.hpp"

#include "support/Git.hpp"

namespace megafuse::test {

std::string_view toString(SourceKind kind) {
    switch (kind) {
        case SourceKind::LocalPath:
            return "LocalPath";
        case SourceKind::FileUrl:
            return "FileUrl";
        case SourceKind::GitDaemon:
            return "GitDaemon";
        case SourceKind::Http:
            return "Http";
    }
    return "Unknown";
}

bool isRemote(SourceKind kind) {
    return kind != SourceKind::LocalPath;
}

ServedSource::ServedSource(SourceKind kind, const std::filesystem::path& origin,
                           const std::filesystem::path& workDir)
    : kind_(kind) {
    switch (kind) {
        case SourceKind::LocalPath:
            served_ = origin;
            source_ = origin.string();
            break;
        case SourceKind::FileUrl:
            // file:// runs upload-pack on origin itself: it must allow filters too.
            allowPartialClone(origin);
            served_ = origin;
            source_ = "file://" + origin.string();
            break;
        case SourceKind::GitDaemon: {
            const auto served = workDir / "git-daemon-root";
            served_ = served / kRepositoryName;
            publishBare(origin, served_);
            gitDaemon_ = std::make_unique<GitDaemon>(served, workDir / "git-daemon");
            source_ = gitDaemon_->url(kRepositoryName);
            break;
        }
        case SourceKind::Http: {
            const auto served = workDir / "http-root";
            served_ = served / kRepositoryName;
            publishBare(origin, served_);
            http_ = std::make_unique<HttpGitServer>(served, workDir / "lighttpd");
            source_ = http_->url(kRepositoryName);
            break;
        }
    }
}

}  // namespace megafuse::test
