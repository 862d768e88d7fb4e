// ConfigError: the config layer's one exception. It carries every problem found in one pass, each
// located as file:line:column so an editor can jump to it, and prints them one per line.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace megafuse::config {

// What went wrong, for callers that react by kind (D-Bus maps every kind to InvalidConfig).
enum class ConfigIssueKind {
    Unreadable,    // the file cannot be opened or read (errno text in the message)
    Syntax,        // not valid YAML
    UnknownKey,    // a key the schema does not have (with "did you mean" when one is close)
    DuplicateKey,  // the same key twice in one map
    MissingKey,    // a required key (name, source, mountpoint, ...) is absent
    WrongType,     // a map where a string belongs, a list where a map belongs, ...
    BadValue,      // right type, wrong text: a bad size, path, name, URL scheme, log level
    OutOfBounds,   // a number, size or duration outside its documented bounds
    Conflict,      // mounts that clash: same name, same mountpoint, one inside another
};

const char* toString(ConfigIssueKind kind);

struct ConfigIssue {
    std::string file;  // as given to the loader ("<built-in default>" for embedded text)
    int line = 0;      // 1-based; 0 when the issue is about the whole file
    int column = 0;    // 1-based; 0 when line is 0
    std::string key;   // "mounts[2].mountpoint" (list indices count from 0); "" for the file
    std::string message;
    ConfigIssueKind kind = ConfigIssueKind::BadValue;

    // "path/config.yaml:12:5: mounts[2].mountpoint: must be an absolute path (got "src")";
    // the position and the key are left out when unknown.
    [[nodiscard]] std::string format() const;

    bool operator==(const ConfigIssue&) const = default;
};

class ConfigError : public std::runtime_error {
public:
    // what() lists at most this many issues, then "... and N more issues": it travels in D-Bus
    // errors and log lines. issues() always has all of them.
    static constexpr size_t kMaxIssuesInMessage = 50;

    // issues must not be empty: an error with nothing to say is a bug in the loader.
    explicit ConfigError(std::vector<ConfigIssue> issues);

    [[nodiscard]] const std::vector<ConfigIssue>& issues() const { return issues_; }

private:
    std::vector<ConfigIssue> issues_;
};

}  // namespace megafuse::config
