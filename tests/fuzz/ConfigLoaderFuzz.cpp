// ConfigLoaderFuzz: config.yaml text → parseConfig. Every input either loads or throws ConfigError
// whose every issue is located as "fuzz.yaml:line:column"; anything else (another exception, a
// crash, a sanitizer report) is a finding. A loaded config is checked again here, independently
// of the loader, against what docs/config.md promises of every accepted file.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "FuzzCheck.hpp"
#include "config/ConfigLoader.hpp"

namespace {

using megafuse::fuzz::require;
namespace config = megafuse::config;
namespace fs = std::filesystem;

constexpr std::string_view kFile = "fuzz.yaml";

bool isMountNameChar(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool hasSpaceOrControl(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
    });
}

// Absolute, no ".", ".." or empty parts, no trailing '/': what the loader's normalization gives.
bool isNormalAbsolute(const fs::path& path) {
    if (!path.is_absolute() || path != path.lexically_normal()) {
        return false;
    }
    const std::string& text = path.native();
    return text == "/" || !text.ends_with('/');
}

bool isSameOrInside(const fs::path& inner, const fs::path& outer) {
    return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first ==
           outer.end();
}

bool isCleanRepoPath(std::string_view path) {
    if (path.empty()) {
        return true;
    }
    if (path.starts_with('/') || path.ends_with('/') || path.find("//") != std::string::npos) {
        return false;
    }
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = std::min(path.find('/', start), path.size());
        std::string_view part = path.substr(start, end - start);
        if (part == "." || part == "..") {
            return false;
        }
        start = end + 1;
    }
    return true;
}

void checkMount(const config::MountConfig& m, const config::GlobalSettings& g) {
    require(!m.name.empty() && m.name.size() <= config::kMaxMountNameLength &&
                std::all_of(m.name.begin(), m.name.end(), isMountNameChar) && m.name != "." &&
                m.name != "..",
            "an accepted mount name is [A-Za-z0-9._-]{1,64}, not . or ..", m.name);
    require(isNormalAbsolute(m.mountpoint) && m.mountpoint != "/",
            "an accepted mountpoint is absolute, normalized and not /", m.mountpoint.native());
    require(!isSameOrInside(m.mountpoint, g.cacheDir) && !isSameOrInside(g.cacheDir, m.mountpoint),
            "an accepted mountpoint does not overlap cache_dir", m.mountpoint.native());
    require(!isSameOrInside(m.mountpoint, g.stateDir) && !isSameOrInside(g.stateDir, m.mountpoint),
            "an accepted mountpoint does not overlap state_dir", m.mountpoint.native());
    require(!m.revision.empty() && !hasSpaceOrControl(m.revision) && m.revision[0] != '-',
            "an accepted revision is one word that cannot be read as an option", m.revision);
    require(isCleanRepoPath(m.subPath), "an accepted path has no ., .. or empty parts", m.subPath);
    const std::string& location = m.source.location;
    switch (m.source.kind) {
        case config::SourceConfig::Kind::LocalPath:
            require(isNormalAbsolute(location), "a local source is a normalized absolute path",
                    location);
            break;
        case config::SourceConfig::Kind::GitUrl:
            require(location.starts_with("file:///") || location.starts_with("git://") ||
                        location.starts_with("http://") || location.starts_with("https://"),
                    "a Git URL source has a supported scheme in lower case", location);
            break;
        case config::SourceConfig::Kind::Mega:
            require(location.starts_with("http://") || location.starts_with("https://"),
                    "a Mega source is an http(s) URL", location);
            require(m.source.megaPath.starts_with('/') &&
                        isCleanRepoPath(std::string_view(m.source.megaPath).substr(1)),
                    "a Mega path is absolute without . or .. parts", m.source.megaPath);
            require(m.source.tokenFile.empty() || isNormalAbsolute(m.source.tokenFile),
                    "a token_file is a normalized absolute path", m.source.tokenFile.native());
            break;
    }
    if (m.fetchTimeout) {
        require(*m.fetchTimeout >= config::kMinFetchTimeout &&
                    *m.fetchTimeout <= config::kMaxFetchTimeout,
                "fetch_timeout within its bounds");
    }
    if (m.fetchConcurrency) {
        require(*m.fetchConcurrency >= config::kMinFetchConcurrency &&
                    *m.fetchConcurrency <= config::kMaxFetchConcurrency,
                "fetch_concurrency within its bounds");
    }
    if (m.attrTimeout) {
        require(
            *m.attrTimeout >= config::kMinAttrTimeout && *m.attrTimeout <= config::kMaxAttrTimeout,
            "attr_timeout within its bounds");
    }
}

void checkAccepted(const config::Config& c) {
    const config::GlobalSettings& g = c.global;
    require(isNormalAbsolute(g.cacheDir) && isNormalAbsolute(g.stateDir),
            "cache_dir and state_dir are normalized absolute paths");
    require(g.contentCacheBytes >= config::kMinContentCacheBytes &&
                g.contentCacheBytes <= config::kMaxContentCacheBytes,
            "content_cache_size within its bounds");
    require(g.treeCacheBytes >= config::kMinTreeCacheBytes &&
                g.treeCacheBytes <= config::kMaxTreeCacheBytes,
            "tree_cache_size within its bounds");
    require(
        g.fetchTimeout >= config::kMinFetchTimeout && g.fetchTimeout <= config::kMaxFetchTimeout,
        "fetch_timeout within its bounds");
    require(g.fetchConcurrency >= config::kMinFetchConcurrency &&
                g.fetchConcurrency <= config::kMaxFetchConcurrency,
            "fetch_concurrency within its bounds");
    require(g.fetchBatchMax >= config::kMinFetchBatchMax &&
                g.fetchBatchMax <= config::kMaxFetchBatchMax,
            "fetch_batch_max within its bounds");
    require(g.attrTimeout >= config::kMinAttrTimeout && g.attrTimeout <= config::kMaxAttrTimeout,
            "attr_timeout within its bounds");
    if (g.author) {
        require(!g.author->name.empty() &&
                    g.author->name.find_first_of("<>\n") == std::string::npos &&
                    g.author->email.find('@') != std::string::npos &&
                    !hasSpaceOrControl(g.author->email) &&
                    g.author->email.find_first_of("<>") == std::string::npos,
                "an accepted author cannot corrupt a commit header",
                g.author->name + " <" + g.author->email + ">");
    }
    for (size_t i = 0; i < c.mounts.size(); ++i) {
        checkMount(c.mounts[i], g);
        for (size_t j = 0; j < i; ++j) {
            require(c.mounts[i].name != c.mounts[j].name, "mount names are unique",
                    c.mounts[i].name);
            require(!isSameOrInside(c.mounts[i].mountpoint, c.mounts[j].mountpoint) &&
                        !isSameOrInside(c.mounts[j].mountpoint, c.mounts[i].mountpoint),
                    "mountpoints neither repeat nor nest", c.mounts[i].mountpoint.native());
        }
    }
}

void checkRefused(const config::ConfigError& error) {
    require(!error.issues().empty(), "a ConfigError has at least one issue");
    for (const auto& issue : error.issues()) {
        const std::string text = issue.format();
        require(issue.file == kFile, "every issue names the file", text);
        require(issue.line >= 1 && issue.column >= 1, "every issue has a line and a column", text);
        require(text.starts_with(std::string(kFile) + ":" + std::to_string(issue.line) + ":" +
                                 std::to_string(issue.column) + ": "),
                "every issue reads file:line:column: message", text);
        require(!issue.message.empty(), "every issue says what is wrong", text);
    }
    require(std::string_view(error.what()).starts_with(kFile),
            "what() starts with the first issue's position", error.what());
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point, named by libFuzzer.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const config::Config loaded = config::parseConfig(text, std::string(kFile));
        checkAccepted(loaded);
        // Loading is a function of the text: the same file gives the same configuration.
        require(config::parseConfig(text, std::string(kFile)) == loaded,
                "parsing the same text twice gives the same configuration");
    } catch (const config::ConfigError& error) {
        checkRefused(error);
    } catch (const std::exception& e) {
        require(false, "parseConfig throws ConfigError only", e.what());
    }
    return 0;
}
