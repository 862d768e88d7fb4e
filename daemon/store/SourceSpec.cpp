// SourceSpec: decides from what a user typed whether a source is a local repository or a Git
// server URL; the one place that rejects unsupported schemes with a reason.
#include <array>
#include <filesystem>
#include <system_error>

#include "store/GitCli.hpp"
#include "store/Libgit2.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {
namespace {

bool startsWith(const std::string& text, std::string_view prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

bool isGitRepository(const std::filesystem::path& dir) {
    ensureLibgit2();
    git_repository* raw = nullptr;
    // NO_SEARCH: a folder inside a work tree is not a source; the user must name the repository.
    int rc = git_repository_open_ext(&raw, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    GitRepositoryPtr repo(raw);
    return rc == 0;
}

}  // namespace

SourceSpec SourceSpec::parse(const std::string& text) {
    if (text.empty()) {
        throw StoreError(StoreErrc::BadSource, "empty source");
    }
    static constexpr std::array<std::string_view, 4> kRemoteSchemes = {"file://", "git://",
                                                                       "http://", "https://"};
    for (std::string_view scheme : kRemoteSchemes) {
        if (startsWith(text, scheme)) {
            if (text.size() == scheme.size()) {
                throw StoreError(StoreErrc::BadSource, "source '" + text + "' has no location");
            }
            return SourceSpec{Kind::GitRemote, text};
        }
    }
    const std::string shown = redactCredentials(text);
    if (auto colon = text.find("://"); colon != std::string::npos) {
        throw StoreError(StoreErrc::BadSource,
                         "source '" + shown + "': unsupported URL scheme '" +
                             text.substr(0, colon) +
                             "' (use file://, git://, http://, https:// or a local path)");
    }
    std::error_code ec;
    std::filesystem::path path = std::filesystem::absolute(text, ec);
    if (ec) {
        throw StoreError(StoreErrc::BadSource, "source '" + shown + "': " + ec.message());
    }
    path = path.lexically_normal();
    if (path.has_filename() == false && path != path.root_path()) {
        path = path.parent_path();  // "repo/" → "repo"
    }
    if (!std::filesystem::is_directory(path, ec)) {
        throw StoreError(StoreErrc::BadSource, "source '" + shown +
                                                   "' is neither a supported URL nor an existing "
                                                   "directory (ssh and scp-style addresses are not "
                                                   "supported yet)");
    }
    if (!isGitRepository(path)) {
        throw StoreError(StoreErrc::BadSource,
                         "source '" + path.string() + "' is a directory but not a Git repository");
    }
    return SourceSpec{Kind::LocalRepository, path.string()};
}

}  // namespace megafuse::store
