// ConfigLoader: walks the YAML tree once with a table of fields per map, collecting issues instead
// of stopping at the first, then checks what only the whole file shows (clashing mounts).
#include "config/ConfigLoader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "common/GitText.hpp"
#include "common/Paths.hpp"
#include "common/UniqueFd.hpp"
#include "config/Units.hpp"

namespace megafuse::config {
namespace {

namespace fs = std::filesystem;
using Kind = ConfigIssueKind;

constexpr std::string_view kBuiltinName = "<built-in default>";

// Keys of the two big sections, for the hint when a key is written in the other one. The field
// tables below are the schema; parseGlobal/parseMount assert that these lists match them.
constexpr std::array<std::string_view, 30> kGlobalKeys = {"cache_dir",
                                                          "state_dir",
                                                          "log_level",
                                                          "content_cache_size",
                                                          "tree_cache_size",
                                                          "fetch_timeout",
                                                          "fetch_concurrency",
                                                          "fetch_batch_max",
                                                          "attr_timeout",
                                                          "worker_threads",
                                                          "max_mounts",
                                                          "max_queued_operations",
                                                          "max_diff_bytes",
                                                          "push_timeout",
                                                          "prefetch_window",
                                                          "prefetch_listing_max_blobs",
                                                          "prefetch_directory_max_blobs",
                                                          "prefetch_remembered_directories",
                                                          "xattr_name_max",
                                                          "xattr_value_max",
                                                          "xattr_names_max",
                                                          "xattr_entry_max",
                                                          "changes_hash_cache_entries",
                                                          "git_pack_files_max",
                                                          "git_mapped_pack_max",
                                                          "git_object_cache_size",
                                                          "repository_recycle_after_fetches",
                                                          "repository_max_packs",
                                                          "author",
                                                          "mounts"};
constexpr std::array<std::string_view, 10> kMountKeys = {
    "name",      "source",        "revision",          "path",        "mountpoint", "writable",
    "automount", "fetch_timeout", "fetch_concurrency", "attr_timeout"};
constexpr std::array<std::string_view, 6> kLogLevels = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};
constexpr std::string_view kUseSupportedSources = "use https://, git:// or file://";

enum class Section { Global, Mount, Source, Author };

template <size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

template <typename List>
std::string joinNames(const List& names) {
    std::string text;
    for (std::string_view name : names) {
        if (!text.empty()) {
            text += ", ";
        }
        text += name;
    }
    return text;
}

// Optimal string alignment distance: Levenshtein plus adjacent swaps, the typos people make.
size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

// The closest known key within a typo's reach: one edit for short keys, two for longer ones.
template <typename List>
std::optional<std::string_view> nearestKey(std::string_view key, const List& known) {
    std::optional<std::string_view> best;
    size_t bestDistance = key.size() <= 4 ? 1 : 2;
    for (std::string_view candidate : known) {
        size_t lengthGap = key.size() > candidate.size() ? key.size() - candidate.size()
                                                         : candidate.size() - key.size();
        if (lengthGap > bestDistance) {
            continue;  // out of reach; also keeps a pasted megabyte key from costing megabytes
        }
        size_t distance = editDistance(key, candidate);
        if (distance <= bestDistance && (!best || distance < bestDistance)) {
            best = candidate;
            bestDistance = distance;
        }
    }
    return best;
}

// Double-quoted with C escapes (valid YAML too), so a stray space or control character shows.
std::string yamlQuote(std::string_view text) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7f) {
            out += "\\x";
            out += kHex[byte >> 4U];
            out += kHex[byte & 0xfU];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

// yamlQuote for messages: a value longer than a message should carry is cut (at a UTF-8 character
// boundary) and marked, so one pasted blob cannot turn an error report into megabytes.
std::string quote(std::string_view text) {
    constexpr size_t kMaxShown = 200;
    if (text.size() <= kMaxShown) {
        return yamlQuote(text);
    }
    size_t cut = kMaxShown;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
        --cut;
    }
    return yamlQuote(text.substr(0, cut)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

// "/a/b/" → "/a/b", "/a/./c/../d" → "/a/d"; "/" stays "/".
fs::path normalizeAbsolute(const fs::path& path) {
    fs::path normal = path.lexically_normal();
    if (!normal.has_filename() && normal != normal.root_path()) {
        normal = normal.parent_path();
    }
    return normal;
}

// Component-wise, so /src/linux2 is not inside /src/linux.
bool isSameOrInside(const fs::path& inner, const fs::path& outer) {
    return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first ==
           outer.end();
}

// Splits on '/', dropping empty parts; nullopt when a part is "." or "..", which would let a mount
// name something outside the repository path it claims.
std::optional<std::string> normalizeRepoPath(std::string_view text) {
    std::string joined;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('/', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view part = text.substr(start, end - start);
        if (part == "." || part == "..") {
            return std::nullopt;
        }
        if (!part.empty()) {
            if (!joined.empty()) {
                joined += '/';
            }
            joined += part;
        }
        start = end + 1;
    }
    return joined;
}

// The host of what follows "scheme://", without user info: "u:p@h:1/x" → "h:1".
std::string_view urlHost(std::string_view rest) {
    std::string_view authority = rest.substr(0, rest.find('/'));
    auto at = authority.rfind('@');
    return at == std::string_view::npos ? authority : authority.substr(at + 1);
}

bool isValidMountName(std::string_view name) {
    if (name.empty() || name.size() > kMaxMountNameLength) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

bool hasSpaceOrControl(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
    });
}

struct Where {
    int line = 0;  // 1-based, 0 = unknown
    int column = 0;
};

Where whereOf(const YAML::Mark& mark) {
    if (mark.is_null()) {
        return {};
    }
    return {mark.line + 1, mark.column + 1};
}

// yaml-cpp 0.7's LoadAll never returns on a token no document can start with (a "," outside
// brackets): it yields an empty document there, again and again, without moving on, one node
// each time — ConfigLoaderFuzz saw it take 2 GB in seconds. So the documents are first counted
// by a pass that builds nothing and stops at a document starting where the one before started
// (every other document consumes a token); then the first one is loaded on its own.
struct DocumentScan {
    size_t documents = 0;
    YAML::Mark secondAt = YAML::Mark::null_mark();  // the second document's root
    std::optional<YAML::Mark> stuckAt;              // where a document would start forever
};

class DocumentCounter final : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark& mark) override {
        start_ = mark;
        root_.reset();
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  const std::string& /*value*/) override {
        node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                         YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {
        node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                    YAML::EmitterStyle::value /*style*/) override {
        node(mark);
    }
    void OnMapEnd() override {}

    [[nodiscard]] const YAML::Mark& start() const { return start_; }
    [[nodiscard]] YAML::Mark root() const { return root_.value_or(start_); }

private:
    void node(const YAML::Mark& mark) {
        if (!root_) {
            root_ = mark;
        }
    }

    YAML::Mark start_ = YAML::Mark::null_mark();
    std::optional<YAML::Mark> root_;
};

// Throws YAML::ParserException as LoadAll would.
DocumentScan scanDocuments(std::string_view text) {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    DocumentScan scan;
    std::optional<int> previousStart;
    while (parser.HandleNextDocument(counter)) {
        if (previousStart == counter.start().pos) {
            scan.stuckAt = counter.start();
            break;
        }
        previousStart = counter.start().pos;
        if (++scan.documents == 2) {
            scan.secondAt = counter.root();
        }
    }
    return scan;
}

std::string hexByte(char c) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(c);
    return std::string("0x") + kHex[byte >> 4U] + kHex[byte & 0xfU];
}

// What a mount contributes to the checks across mounts, for the ones whose values parsed.
struct MountSite {
    Where at;  // the list entry
    std::optional<std::string> name;
    Where nameAt;
    std::optional<fs::path> mountpoint;
    Where mountpointAt;
};

class Parser {
public:
    Parser(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

    Config run() {
        if (auto bad = firstNonUtf8Byte(text_)) {
            // YAML text is Unicode; and every value may end up in a D-Bus string, which must be
            // UTF-8 (docs/dbus-api.md), so a Latin-1 path is refused here, where it can be named.
            report(whereOfOffset(*bad), "", Kind::Syntax,
                   "invalid YAML: byte " + hexByte(text_[*bad]) +
                       " is not UTF-8 (save the file as UTF-8)");
            throw ConfigError(std::move(issues_));
        }
        DocumentScan scan;
        YAML::Node root;
        try {
            scan = scanDocuments(text_);
            if (scan.stuckAt) {
                const auto pos = static_cast<size_t>(std::max(scan.stuckAt->pos, 0));
                report(whereOf(*scan.stuckAt), "", Kind::Syntax,
                       "invalid YAML: unexpected " +
                           (pos < text_.size() ? quote(text_.substr(pos, 1)) : "end of file"));
                throw ConfigError(std::move(issues_));
            }
            root = YAML::Load(std::string(text_));
        } catch (const YAML::ParserException& e) {
            report(whereOf(e.mark), "", Kind::Syntax,
                   "invalid YAML: " + e.msg + tabHint(e.mark.line));
            throw ConfigError(std::move(issues_));
        }
        if (scan.documents > 1) {
            report(whereOf(scan.secondAt), "", Kind::Syntax,
                   "expected one YAML document, found " + std::to_string(scan.documents));
        }
        if (root.IsMap()) {
            parseGlobal(root);
        } else if (!root.IsNull()) {
            report(whereOf(root.Mark()), "", Kind::WrongType,
                   "the configuration must be a map of settings (got " + got(root) + ")");
        }
        checkAcrossMounts();
        if (!issues_.empty()) {
            std::stable_sort(issues_.begin(), issues_.end(),
                             [](const ConfigIssue& a, const ConfigIssue& b) {
                                 return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                             });
            throw ConfigError(std::move(issues_));
        }
        return std::move(config_);
    }

private:
    using Handler = std::function<void(const YAML::Node& value, const std::string& key, Where at)>;
    struct Field {
        std::string_view name;
        bool required;
        Handler handle;
    };

    void report(Where at, std::string key, Kind kind, std::string message) {
        issues_.push_back(
            ConfigIssue{file_, at.line, at.column, std::move(key), std::move(message), kind});
    }

    // yaml-cpp's message for a tab in the indentation ("illegal map value") does not say why.
    [[nodiscard]] std::string tabHint(int line) const {
        size_t start = 0;
        for (int i = 0; i < line && start != std::string_view::npos; ++i) {
            start = text_.find('\n', start);
            start = start == std::string_view::npos ? start : start + 1;
        }
        if (start == std::string_view::npos) {
            return "";
        }
        size_t indentEnd = text_.find_first_not_of(" \t", start);
        std::string_view indent = text_.substr(start, indentEnd - start);
        return indent.find('\t') == std::string_view::npos
                   ? ""
                   : " (YAML does not allow tabs for indentation)";
    }

    // "a map", "a list", a quoted scalar, or what an empty value is.
    [[nodiscard]] std::string got(const YAML::Node& node) const {
        switch (node.Type()) {
            case YAML::NodeType::Scalar:
                return quote(node.Scalar());
            case YAML::NodeType::Sequence:
                return "a list";
            case YAML::NodeType::Map:
                return "a map";
            case YAML::NodeType::Null:
            case YAML::NodeType::Undefined:
                break;
        }
        // A bare ~ is YAML for null: the one surprise worth explaining in a file full of paths.
        auto pos = static_cast<size_t>(std::max(node.Mark().pos, 0));
        if (pos < text_.size() && text_[pos] == '~' &&
            (pos + 1 == text_.size() || text_[pos + 1] == ' ' || text_[pos + 1] == '\n' ||
             text_[pos + 1] == '\r' || text_[pos + 1] == ',' || text_[pos + 1] == '}')) {
            return "~, which YAML reads as null; write \"~\" for the home directory";
        }
        return "nothing";
    }

    // An empty value's mark is wherever the next token starts, often the next line; the key is
    // where the reader should look.
    static Where valueWhere(const YAML::Node& key, const YAML::Node& value) {
        if (value.IsNull() && value.Mark().line != key.Mark().line) {
            return whereOf(key.Mark());
        }
        return whereOf(value.Mark());
    }

    // Same for an empty list item: point at its "-".
    [[nodiscard]] Where itemWhere(const YAML::Node& item) const {
        Where at = whereOf(item.Mark());
        if (!item.IsNull() || item.Mark().pos <= 0) {
            return at;
        }
        auto pos = static_cast<size_t>(item.Mark().pos);
        while (pos > 0 && (text_[pos - 1] == ' ' || text_[pos - 1] == '\n' ||
                           text_[pos - 1] == '\r' || text_[pos - 1] == '\t')) {
            --pos;
        }
        if (pos == 0 || text_[pos - 1] != '-') {
            return at;
        }
        size_t dash = pos - 1;
        size_t lineStart = text_.rfind('\n', dash);
        lineStart = lineStart == std::string_view::npos ? 0 : lineStart + 1;
        auto line = std::count(text_.begin(), text_.begin() + static_cast<ptrdiff_t>(dash), '\n');
        return {static_cast<int>(line) + 1, static_cast<int>(dash - lineStart) + 1};
    }

    // A byte offset as yaml-cpp counts positions: lines, then characters (not bytes) into the
    // line. The text before offset is well-formed UTF-8.
    [[nodiscard]] Where whereOfOffset(size_t offset) const {
        const size_t newline = offset == 0 ? std::string_view::npos : text_.rfind('\n', offset - 1);
        const size_t lineStart = newline == std::string_view::npos ? 0 : newline + 1;
        const auto begin = text_.begin() + static_cast<ptrdiff_t>(lineStart);
        const auto end = text_.begin() + static_cast<ptrdiff_t>(offset);
        const auto line = std::count(text_.begin(), begin, '\n');
        const auto characters = std::count_if(
            begin, end, [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; });
        return {static_cast<int>(line) + 1, static_cast<int>(characters) + 1};
    }

    static std::string join(const std::string& prefix, std::string_view name) {
        return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
    }

    void parseMap(const YAML::Node& map, Where mapAt, const std::string& prefix, Section section,
                  const std::vector<Field>& fields) {
        std::map<std::string, Where, std::less<>> seen;
        for (const auto& entry : map) {
            const YAML::Node& keyNode = entry.first;
            const YAML::Node& value = entry.second;
            Where keyAt = whereOf(keyNode.Mark());
            if (!keyNode.IsScalar()) {
                report(keyAt, prefix, Kind::WrongType,
                       "keys must be strings (got " + got(keyNode) + ")");
                continue;
            }
            const std::string& name = keyNode.Scalar();
            std::string key = join(prefix, name);
            if (auto first = seen.find(name); first != seen.end()) {
                report(keyAt, key, Kind::DuplicateKey,
                       "duplicate key (first on line " + std::to_string(first->second.line) + ")");
                continue;
            }
            seen.emplace(name, keyAt);
            auto field = std::find_if(fields.begin(), fields.end(),
                                      [&](const Field& f) { return f.name == name; });
            if (field == fields.end()) {
                report(keyAt, key, Kind::UnknownKey, unknownKeyMessage(name, section, fields));
                continue;
            }
            field->handle(value, key, valueWhere(keyNode, value));
        }
        for (const auto& field : fields) {
            if (field.required && seen.find(field.name) == seen.end()) {
                report(mapAt, join(prefix, field.name), Kind::MissingKey, "missing required key");
            }
        }
    }

    template <size_t N>
    static bool namesMatch(const std::vector<Field>& fields,
                           const std::array<std::string_view, N>& names) {
        return std::equal(fields.begin(), fields.end(), names.begin(), names.end(),
                          [](const Field& f, std::string_view name) { return f.name == name; });
    }

    static std::string unknownKeyMessage(const std::string& name, Section section,
                                         const std::vector<Field>& fields) {
        std::string quoted = quote(name);
        if (section == Section::Global && contains(kMountKeys, name)) {
            return "unknown key; " + quoted +
                   " is a per-mount setting (put it in an entry of mounts)";
        }
        if (section == Section::Mount && contains(kGlobalKeys, name)) {
            return "unknown key; " + quoted + " is a global setting and cannot be set per mount";
        }
        if (section == Section::Mount &&
            (name == "mega" || name == "token_file" || name == "refresh_interval")) {
            return "unknown key; " + quoted + " belongs in the source map (source: {mega: URL, " +
                   "path: /p, token_file: F})";
        }
        std::vector<std::string_view> known;
        known.reserve(fields.size());
        for (const auto& field : fields) {
            known.push_back(field.name);
        }
        if (auto near = nearestKey(name, known)) {
            return "unknown key (did you mean " + quote(*near) + "?)";
        }
        return "unknown key (expected one of: " + joinNames(known) + ")";
    }

    // --- scalar values: each reports its own issue and returns nullopt on failure -------------

    std::optional<std::string> scalar(const YAML::Node& node, const std::string& key, Where at,
                                      std::string_view expectation) {
        if (node.IsScalar()) {
            return node.Scalar();
        }
        report(at, key, Kind::WrongType, std::string(expectation) + " (got " + got(node) + ")");
        return std::nullopt;
    }

    void badValue(const YAML::Node& node, const std::string& key, Where at,
                  std::string_view expectation, Kind kind = Kind::BadValue) {
        report(at, key, kind, std::string(expectation) + " (got " + got(node) + ")");
    }

    std::optional<fs::path> absolutePath(const YAML::Node& node, const std::string& key, Where at) {
        static constexpr std::string_view kExpectation = "must be an absolute path";
        auto text = scalar(node, key, at, kExpectation);
        if (!text) {
            return std::nullopt;
        }
        fs::path path = expandHome(*text);
        if (!path.is_absolute()) {
            badValue(node, key, at, kExpectation);
            return std::nullopt;
        }
        return normalizeAbsolute(path);
    }

    std::optional<uint64_t> size(const YAML::Node& node, const std::string& key, Where at,
                                 uint64_t min, uint64_t max) {
        static constexpr std::string_view kExpectation = "must be a size such as 512MiB or 10GB";
        auto text = scalar(node, key, at, kExpectation);
        if (!text) {
            return std::nullopt;
        }
        auto bytes = parseSize(*text);
        if (!bytes) {
            badValue(node, key, at, kExpectation);
            return std::nullopt;
        }
        if (*bytes < min || *bytes > max) {
            badValue(node, key, at, "must be from " + formatSize(min) + " to " + formatSize(max),
                     Kind::OutOfBounds);
            return std::nullopt;
        }
        return bytes;
    }

    std::optional<std::chrono::milliseconds> duration(const YAML::Node& node,
                                                      const std::string& key, Where at,
                                                      std::chrono::milliseconds min,
                                                      std::chrono::milliseconds max) {
        static constexpr std::string_view kExpectation =
            "must be a duration such as 30s, 500ms or 5m";
        auto text = scalar(node, key, at, kExpectation);
        if (!text) {
            return std::nullopt;
        }
        auto value = parseDuration(*text);
        if (!value) {
            badValue(node, key, at, kExpectation);
            return std::nullopt;
        }
        if (*value < min || *value > max) {
            badValue(node, key, at,
                     "must be from " + formatDuration(min) + " to " + formatDuration(max),
                     Kind::OutOfBounds);
            return std::nullopt;
        }
        return value;
    }

    std::optional<size_t> integer(const YAML::Node& node, const std::string& key, Where at,
                                  size_t min, size_t max) {
        std::string expectation =
            "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
        auto text = scalar(node, key, at, expectation);
        if (!text) {
            return std::nullopt;
        }
        bool digits = !text->empty() && std::all_of(text->begin(), text->end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) {
            badValue(node, key, at, expectation);
            return std::nullopt;
        }
        if (text->size() > 18) {  // beyond every bound, and beyond what stoull can hold
            badValue(node, key, at, expectation, Kind::OutOfBounds);
            return std::nullopt;
        }
        auto value = static_cast<size_t>(std::stoull(*text));
        if (value < min || value > max) {
            badValue(node, key, at, expectation, Kind::OutOfBounds);
            return std::nullopt;
        }
        return value;
    }

    std::optional<bool> boolean(const YAML::Node& node, const std::string& key, Where at) {
        static constexpr std::string_view kExpectation = "must be true or false";
        auto text = scalar(node, key, at, kExpectation);
        if (!text) {
            return std::nullopt;
        }
        // YAML 1.2's core schema: yes/no/on/off are strings there, so we refuse them rather than
        // guess which YAML version the writer had in mind.
        if (*text == "true" || *text == "True" || *text == "TRUE") {
            return true;
        }
        if (*text == "false" || *text == "False" || *text == "FALSE") {
            return false;
        }
        badValue(node, key, at, kExpectation);
        return std::nullopt;
    }

    // --- sections ------------------------------------------------------------------------------

    void parseGlobal(const YAML::Node& root) {
        GlobalSettings& g = config_.global;
        std::vector<Field> fields = {
            {"cache_dir", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto p = absolutePath(v, k, at)) {
                     g.cacheDir = *p;
                 }
             }},
            {"state_dir", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto p = absolutePath(v, k, at)) {
                     g.stateDir = *p;
                 }
             }},
            {"log_level", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 std::string expectation = "must be one of " + joinNames(kLogLevels);
                 auto text = scalar(v, k, at, expectation);
                 if (text && contains(kLogLevels, *text)) {
                     g.logLevel = *text;
                 } else if (text) {
                     badValue(v, k, at, expectation);
                 }
             }},
            {"content_cache_size", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinContentCacheBytes, kMaxContentCacheBytes)) {
                     g.contentCacheBytes = *b;
                 }
             }},
            {"tree_cache_size", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinTreeCacheBytes, kMaxTreeCacheBytes)) {
                     g.treeCacheBytes = *b;
                 }
             }},
            {"fetch_timeout", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto d = duration(v, k, at, kMinFetchTimeout, kMaxFetchTimeout)) {
                     g.fetchTimeout = *d;
                 }
             }},
            {"fetch_concurrency", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinFetchConcurrency, kMaxFetchConcurrency)) {
                     g.fetchConcurrency = *n;
                 }
             }},
            {"fetch_batch_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinFetchBatchMax, kMaxFetchBatchMax)) {
                     g.fetchBatchMax = *n;
                 }
             }},
            {"attr_timeout", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto d = duration(v, k, at, kMinAttrTimeout, kMaxAttrTimeout)) {
                     g.attrTimeout = *d;
                 }
             }},
            {"worker_threads", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinWorkerThreads, kMaxWorkerThreads)) {
                     g.workerThreads = *n;
                 }
             }},
            {"max_mounts", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinMaxMounts, kMaxMaxMounts)) {
                     g.maxMounts = *n;
                 }
             }},
            {"max_queued_operations", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinMaxQueuedOperations, kMaxMaxQueuedOperations)) {
                     g.maxQueuedOperations = *n;
                 }
             }},
            {"max_diff_bytes", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinMaxDiffBytes, kMaxMaxDiffBytes)) {
                     g.maxDiffBytes = *b;
                 }
             }},
            {"push_timeout", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto d = duration(v, k, at, kMinPushTimeout, kMaxPushTimeout)) {
                     g.pushTimeout = *d;
                 }
             }},
            {"prefetch_window", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto d = duration(v, k, at, kMinPrefetchWindow, kMaxPrefetchWindow)) {
                     g.prefetchWindow = *d;
                 }
             }},
            {"prefetch_listing_max_blobs", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinPrefetchBatchBlobs, kMaxPrefetchBatchBlobs)) {
                     g.prefetchListingMaxBlobs = *n;
                 }
             }},
            {"prefetch_directory_max_blobs", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinPrefetchBatchBlobs, kMaxPrefetchBatchBlobs)) {
                     g.prefetchDirectoryMaxBlobs = *n;
                 }
             }},
            {"prefetch_remembered_directories", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinPrefetchRememberedDirectories,
                                      kMaxPrefetchRememberedDirectories)) {
                     g.prefetchRememberedDirectories = *n;
                 }
             }},
            {"xattr_name_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinXattrNameMax, kMaxXattrNameMax)) {
                     g.xattrNameMax = *n;
                 }
             }},
            {"xattr_value_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinXattrValueMax, kMaxXattrValueMax)) {
                     g.xattrValueMax = *b;
                 }
             }},
            {"xattr_names_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinXattrNamesMax, kMaxXattrNamesMax)) {
                     g.xattrNamesMax = *b;
                 }
             }},
            {"xattr_entry_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinXattrEntryMax, kMaxXattrEntryMax)) {
                     g.xattrEntryMax = *b;
                 }
             }},
            {"changes_hash_cache_entries", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinChangesHashCacheEntries,
                                      kMaxChangesHashCacheEntries)) {
                     g.changesHashCacheEntries = *n;
                 }
             }},
            {"git_pack_files_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinGitPackFilesMax, kMaxGitPackFilesMax)) {
                     g.gitPackFilesMax = *n;
                 }
             }},
            {"git_mapped_pack_max", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinGitMappedPackMax, kMaxGitMappedPackMax)) {
                     g.gitMappedPackMax = *b;
                 }
             }},
            {"git_object_cache_size", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto b = size(v, k, at, kMinGitObjectCacheBytes, kMaxGitObjectCacheBytes)) {
                     g.gitObjectCacheBytes = *b;
                 }
             }},
            {"repository_recycle_after_fetches", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinRepositoryRecycleAfterFetches,
                                      kMaxRepositoryRecycleAfterFetches)) {
                     g.repositoryRecycleAfterFetches = *n;
                 }
             }},
            {"repository_max_packs", false,
             [&](const YAML::Node& v, const std::string& k, Where at) {
                 if (auto n = integer(v, k, at, kMinRepositoryMaxPacks, kMaxRepositoryMaxPacks)) {
                     g.repositoryMaxPacks = *n;
                 }
             }},
            {"author", false,
             [&](const YAML::Node& v, const std::string& k, Where at) { parseAuthor(v, k, at); }},
            {"mounts", false,
             [&](const YAML::Node& v, const std::string& k, Where at) { parseMounts(v, k, at); }},
        };
        assert(namesMatch(fields, kGlobalKeys));
        parseMap(root, whereOf(root.Mark()), "", Section::Global, fields);
    }

    void parseAuthor(const YAML::Node& node, const std::string& key, Where at) {
        if (!node.IsMap()) {
            badValue(node, key, at, "must be a map with name and email", Kind::WrongType);
            return;
        }
        Author author;
        bool valid = true;
        std::vector<Field> fields = {
            {"name", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be a name without <, > or line breaks";
                 auto text = scalar(v, k, a, kExpectation);
                 if (text && !text->empty() && text->find_first_of("<>\n") == std::string::npos) {
                     author.name = *text;
                     return;
                 }
                 if (text) {
                     badValue(v, k, a, kExpectation);
                 }
                 valid = false;
             }},
            {"email", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be an email address such as dev@example.com";
                 auto text = scalar(v, k, a, kExpectation);
                 // Git writes the ident as "name <email>": <, > and spaces would corrupt it.
                 if (text && text->find('@') != std::string::npos && !hasSpaceOrControl(*text) &&
                     text->find_first_of("<>") == std::string::npos) {
                     author.email = *text;
                     return;
                 }
                 if (text) {
                     badValue(v, k, a, kExpectation);
                 }
                 valid = false;
             }},
        };
        size_t before = issues_.size();
        parseMap(node, at, key, Section::Author, fields);
        if (valid && issues_.size() == before) {
            config_.global.author = author;
        }
    }

    void parseMounts(const YAML::Node& node, const std::string& key, Where at) {
        if (node.IsNull()) {
            return;  // "mounts:" with nothing under it: no mounts yet
        }
        if (!node.IsSequence()) {
            badValue(node, key, at, "must be a list of mounts", Kind::WrongType);
            return;
        }
        size_t index = 0;
        for (const auto& item : node) {
            parseMount(item, key + "[" + std::to_string(index) + "]");
            ++index;
        }
    }

    void parseMount(const YAML::Node& node, const std::string& prefix) {
        Where at = itemWhere(node);
        MountSite site;
        site.at = at;
        if (!node.IsMap()) {
            badValue(node, prefix, at, "must be a map with name, source and mountpoint",
                     Kind::WrongType);
            sites_.push_back(site);
            return;
        }
        MountConfig mount;
        std::vector<Field> fields = {
            {"name", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be 1 to 64 of the characters A-Z a-z 0-9 . _ -";
                 auto text = scalar(v, k, a, kExpectation);
                 if (!text) {
                     return;
                 }
                 if (!isValidMountName(*text)) {
                     badValue(v, k, a, kExpectation);
                 } else if (*text == "." || *text == "..") {
                     // The name becomes a folder under state_dir.
                     badValue(v, k, a, R"(must not be "." or "..")");
                 } else {
                     mount.name = *text;
                     site.name = *text;
                     site.nameAt = a;
                 }
             }},
            {"source", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 if (auto source = parseSource(v, k, a)) {
                     mount.source = *source;
                 }
             }},
            {"revision", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be a branch, tag or commit id";
                 auto text = scalar(v, k, a, kExpectation);
                 // A leading '-' would reach git's command line as an option.
                 if (text && !text->empty() && !hasSpaceOrControl(*text) && (*text)[0] != '-') {
                     mount.revision = *text;
                 } else if (text) {
                     badValue(v, k, a, kExpectation);
                 }
             }},
            {"path", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     R"(must be a path inside the repository, without "." or ".." parts)";
                 auto text = scalar(v, k, a, kExpectation);
                 if (!text) {
                     return;
                 }
                 if (auto normal = normalizeRepoPath(*text)) {
                     mount.subPath = *normal;
                 } else {
                     badValue(v, k, a, kExpectation);
                 }
             }},
            {"mountpoint", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 auto path = absolutePath(v, k, a);
                 if (!path) {
                     return;
                 }
                 if (*path == path->root_path()) {
                     badValue(v, k, a, "must not be the root directory");
                     return;
                 }
                 mount.mountpoint = *path;
                 site.mountpoint = *path;
                 site.mountpointAt = a;
             }},
            {"writable", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 if (auto b = boolean(v, k, a)) {
                     mount.writable = *b;
                 }
             }},
            {"automount", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 if (auto b = boolean(v, k, a)) {
                     mount.automount = *b;
                 }
             }},
            {"fetch_timeout", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 mount.fetchTimeout = duration(v, k, a, kMinFetchTimeout, kMaxFetchTimeout);
             }},
            {"fetch_concurrency", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 mount.fetchConcurrency =
                     integer(v, k, a, kMinFetchConcurrency, kMaxFetchConcurrency);
             }},
            {"attr_timeout", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 mount.attrTimeout = duration(v, k, a, kMinAttrTimeout, kMaxAttrTimeout);
             }},
        };
        assert(namesMatch(fields, kMountKeys));
        parseMap(node, at, prefix, Section::Mount, fields);
        sites_.push_back(site);
        config_.mounts.push_back(std::move(mount));
    }

    std::optional<SourceConfig> parseSource(const YAML::Node& node, const std::string& key,
                                            Where at) {
        if (node.IsScalar()) {
            return parseSourceText(node.Scalar(), key, at);
        }
        if (!node.IsMap()) {
            badValue(node, key, at, "must be a repository path or URL, or a map with \"mega\"",
                     Kind::WrongType);
            return std::nullopt;
        }
        SourceConfig source;
        source.kind = SourceConfig::Kind::Mega;
        std::vector<Field> fields = {
            {"mega", true,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be an http:// or https:// URL";
                 auto text = scalar(v, k, a, kExpectation);
                 if (!text) {
                     return;
                 }
                 auto sep = text->find("://");
                 std::string scheme = lowercase(text->substr(0, sep));
                 if (sep != std::string::npos && (scheme == "http" || scheme == "https") &&
                     !urlHost(text->substr(sep + 3)).empty()) {
                     source.location = scheme + text->substr(sep);
                 } else {
                     report(a, k, Kind::BadValue,
                            std::string(kExpectation) + " (got " + quote(redactUrlPassword(*text)) +
                                ")");
                 }
             }},
            {"path", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 static constexpr std::string_view kExpectation =
                     "must be an absolute path inside the monorepo, such as /project";
                 auto text = scalar(v, k, a, kExpectation);
                 if (!text) {
                     return;
                 }
                 auto normal = normalizeRepoPath(*text);
                 if (text->empty() || (*text)[0] != '/' || !normal) {
                     badValue(v, k, a, kExpectation);
                 } else {
                     source.megaPath = "/" + *normal;
                 }
             }},
            {"token_file", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 if (auto path = absolutePath(v, k, a)) {
                     source.tokenFile = *path;
                 }
             }},
            {"refresh_interval", false,
             [&](const YAML::Node& v, const std::string& k, Where a) {
                 auto d = duration(v, k, a, std::chrono::milliseconds(0), kMaxRefreshInterval);
                 if (d && d->count() != 0 && *d < kMinRefreshInterval) {
                     badValue(v, k, a, "must be 0 (off) or at least 1s", Kind::OutOfBounds);
                 } else if (d) {
                     source.refreshInterval = *d;
                 }
             }},
        };
        size_t before = issues_.size();
        parseMap(node, at, key, Section::Source, fields);
        if (issues_.size() != before) {
            return std::nullopt;
        }
        return source;
    }

    // A local path or one of the URL forms the store can clone; ssh is named, since it is the
    // first thing people try and "unsupported scheme" would read as a typo.
    std::optional<SourceConfig> parseSourceText(const std::string& text, const std::string& key,
                                                Where at) {
        auto fail = [&](const std::string& why) -> std::optional<SourceConfig> {
            report(at, key, Kind::BadValue, why + " (got " + quote(redactUrlPassword(text)) + ")");
            return std::nullopt;
        };
        if (text.empty()) {
            return fail("must be a repository path or URL");
        }
        if (auto sep = text.find("://"); sep != std::string::npos) {
            std::string scheme = lowercase(text.substr(0, sep));
            std::string rest = text.substr(sep + 3);
            if (scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git") {
                return fail("ssh:// sources are not supported yet; " +
                            std::string(kUseSupportedSources));
            }
            if (scheme == "file") {
                if (rest.empty() || rest[0] != '/') {
                    return fail("a file:// URL needs an absolute path, as in file:///srv/repo.git");
                }
            } else if (scheme == "git" || scheme == "http" || scheme == "https") {
                if (urlHost(rest).empty()) {
                    return fail("the URL has no host");
                }
            } else {
                return fail("unsupported URL scheme " + quote(text.substr(0, sep)) +
                            "; use a local path, file://, git://, http:// or https://");
            }
            // The store matches schemes in lower case; accept what Git accepts and normalize.
            return SourceConfig{SourceConfig::Kind::GitUrl, scheme + "://" + rest, "/", {}};
        }
        auto colon = text.find(':');
        if (text[0] != '/' && text[0] != '~' && colon != std::string::npos &&
            colon < text.find('/')) {
            return fail("scp-style ssh addresses (host:path) are not supported yet; " +
                        std::string(kUseSupportedSources));
        }
        fs::path path = expandHome(text);
        if (!path.is_absolute()) {
            return fail("a local repository path must be absolute");
        }
        return SourceConfig{
            SourceConfig::Kind::LocalPath, normalizeAbsolute(path).string(), "/", {}};
    }

    // --- checks that need the whole file -------------------------------------------------------

    void checkAcrossMounts() {
        // The daemon refuses mounts beyond max_mounts; a file listing more could never be
        // served whole, so the first entry over the bound is the error.
        if (const size_t max = config_.global.maxMounts; sites_.size() > max) {
            report(sites_[max].at, mountKey(max, ""), Kind::OutOfBounds,
                   std::to_string(sites_.size()) + " mounts are listed; max_mounts is " +
                       std::to_string(max));
        }
        std::map<std::string, size_t, std::less<>> names;
        for (size_t i = 0; i < sites_.size(); ++i) {
            const MountSite& site = sites_[i];
            if (!site.name) {
                continue;
            }
            auto [first, inserted] = names.emplace(*site.name, i);
            if (!inserted) {
                report(site.nameAt, mountKey(i, "name"), Kind::Conflict,
                       quote(*site.name) + " is already the name of " +
                           mountKey(first->second, "") + " (line " +
                           std::to_string(sites_[first->second].nameAt.line) + ")");
            }
        }
        for (size_t i = 0; i < sites_.size(); ++i) {
            if (sites_[i].mountpoint) {
                checkMountpoint(i);
            }
        }
    }

    void checkMountpoint(size_t i) {
        const MountSite& site = sites_[i];
        const fs::path& mine = *site.mountpoint;
        std::string key = mountKey(i, "mountpoint");
        for (size_t j = 0; j < sites_.size(); ++j) {
            const MountSite& other = sites_[j];
            if (j == i || !other.mountpoint) {
                continue;
            }
            const std::string line = std::to_string(other.mountpointAt.line);
            if (mine == *other.mountpoint) {
                if (j < i) {  // reported once, on the later mount
                    report(site.mountpointAt, key, Kind::Conflict,
                           quote(mine.string()) + " is already the mountpoint of " +
                               mountKey(j, "") + " (line " + line + ")");
                    break;
                }
            } else if (isSameOrInside(mine, *other.mountpoint)) {
                report(site.mountpointAt, key, Kind::Conflict,
                       quote(mine.string()) + " is inside the mountpoint of " + mountKey(j, "") +
                           " (" + quote(other.mountpoint->string()) + ", line " + line + ")");
                break;
            }
        }
        // The daemon's own folders behind one of its mounts would make it read itself (deadlock);
        // a mount over them would hide its clones and overlays.
        const std::array<std::pair<std::string_view, const fs::path*>, 2> ownDirs = {{
            {"cache_dir", &config_.global.cacheDir},
            {"state_dir", &config_.global.stateDir},
        }};
        for (const auto& [name, dir] : ownDirs) {
            if (isSameOrInside(mine, *dir) || isSameOrInside(*dir, mine)) {
                report(site.mountpointAt, key, Kind::Conflict,
                       "must not overlap " + std::string(name) + " (" + quote(dir->string()) + ")");
            }
        }
    }

    static std::string mountKey(size_t index, std::string_view field) {
        std::string key = "mounts[" + std::to_string(index) + "]";
        return field.empty() ? key : key + "." + std::string(field);
    }

    std::string_view text_;
    std::string file_;
    Config config_;
    std::vector<MountSite> sites_;  // one per entry of the mounts list, valid or not
    std::vector<ConfigIssue> issues_;
};

void replaceAll(std::string& text, std::string_view from, const std::string& to) {
    for (size_t pos = text.find(from); pos != std::string::npos;
         pos = text.find(from, pos + to.size())) {
        text.replace(pos, from.size(), to);
    }
}

std::string errnoText(int error) {
    return std::generic_category().message(error);
}

}  // namespace

fs::path defaultConfigPath() {
    return defaultConfigDir() / "config.yaml";
}

Config parseConfig(std::string_view text, const std::string& displayName) {
    return Parser(text, displayName).run();
}

Config loadConfigFile(const fs::path& path) {
    auto unreadable = [&](const std::string& why) {
        return ConfigError({ConfigIssue{path.string(), 0, 0, "", why, Kind::Unreadable}});
    };
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw unreadable("cannot read configuration file: " + errnoText(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw unreadable("cannot read configuration file: " + errnoText(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        throw unreadable("cannot read configuration file: " + errnoText(EISDIR));
    }
    std::string text;
    std::array<char, 65536> buffer{};
    while (true) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw unreadable("cannot read configuration file: " + errnoText(errno));
        }
        if (n == 0) {
            break;
        }
        text.append(buffer.data(), static_cast<size_t>(n));
        if (text.size() > kMaxConfigFileBytes) {
            throw unreadable("is larger than " + formatSize(kMaxConfigFileBytes) +
                             "; not a configuration file?");
        }
    }
    return parseConfig(text, path.string());
}

std::string defaultConfigText(const fs::path& demoRepo, const fs::path& mountpoint) {
    std::string text(kDefaultConfigTemplate);
    replaceAll(text, "@SOURCE@", yamlQuote(fs::absolute(demoRepo).string()));
    replaceAll(text, "@MOUNTPOINT@", yamlQuote(fs::absolute(mountpoint).string()));
    return text;
}

Config defaultConfig(const fs::path& demoRepo, const fs::path& mountpoint) {
    return parseConfig(defaultConfigText(demoRepo, mountpoint), std::string(kBuiltinName));
}

}  // namespace megafuse::config
