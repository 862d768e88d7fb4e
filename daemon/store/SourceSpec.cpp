// SourceSpec: decides from what a user typed whether a source is a local repository, a Git
// server URL or a Mega server; the one place that rejects unsupported schemes with a reason.
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

SourceSpec SourceSpec::mega(const std::string& baseUrl, const std::string& path,
                            const std::filesystem::path& tokenFile) {
    const std::string shown = redactCredentials(baseUrl);
    const bool https = startsWith(baseUrl, "https://");
    if (!https && !startsWith(baseUrl, "http://")) {
        throw StoreError(StoreErrc::BadSource,
                         "Mega source '" + shown + "': the base URL must be http:// or https://");
    }
    std::string base = baseUrl;
    while (base.size() > (https ? 8U : 7U) && base.back() == '/') {
        base.pop_back();
    }
    if (base.size() == (https ? 8U : 7U)) {
        throw StoreError(StoreErrc::BadSource, "Mega source '" + shown + "' has no host");
    }
    if (path.empty() || path.front() != '/') {
        throw StoreError(StoreErrc::BadSource,
                         "Mega source '" + shown + "': path '" + path + "' must be absolute");
    }
    std::string normalized;
    size_t pos = 1;
    while (pos <= path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string::npos) {
            slash = path.size();
        }
        const std::string part = path.substr(pos, slash - pos);
        if (part == "." || part == "..") {
            std::string message = "Mega source '" + shown;
            message += "': path '";
            message += path;
            message += "' must not contain . or ..";
            throw StoreError(StoreErrc::BadSource, message);
        }
        if (!part.empty()) {
            normalized += "/" + part;
        }
        pos = slash + 1;
    }
    SourceSpec spec{Kind::Mega, base};
    spec.megaPath = normalized.empty() ? "/" : normalized;
    spec.tokenFile = tokenFile;
    return spec;
}

SourceSpec SourceSpec::parse(const std::string& text) {
    if (text.empty()) {
        throw StoreError(StoreErrc::BadSource, "empty source");
    }
    for (std::string_view scheme :
         {std::string_view("mega+http://"), std::string_view("mega+https://")}) {
        if (startsWith(text, scheme)) {
            // mega+http://host:port/a/b: the base URL is scheme + authority, the rest the path.
            const std::string url = text.substr(5);
            const size_t authority = url.find("://") + 3;
            const size_t slash = url.find('/', authority);
            if (slash == std::string::npos) {
                return mega(url, "/");
            }
            return mega(url.substr(0, slash), url.substr(slash));
        }
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
