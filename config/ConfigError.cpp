// ConfigError: formatting of issues in the compiler-style "file:line:column: " form that editors
// and CI logs already know how to link.
#include "config/ConfigError.hpp"

#include <cassert>

namespace megafuse::config {
namespace {

std::string joinIssues(const std::vector<ConfigIssue>& issues) {
    std::string text;
    size_t shown = 0;
    for (const auto& issue : issues) {
        if (shown == ConfigError::kMaxIssuesInMessage) {
            text += "\n... and " + std::to_string(issues.size() - shown) + " more issues";
            break;
        }
        if (shown++ > 0) {
            text += '\n';
        }
        text += issue.format();
    }
    return text;
}

}  // namespace

const char* toString(ConfigIssueKind kind) {
    switch (kind) {
        case ConfigIssueKind::Unreadable:
            return "Unreadable";
        case ConfigIssueKind::Syntax:
            return "Syntax";
        case ConfigIssueKind::UnknownKey:
            return "UnknownKey";
        case ConfigIssueKind::DuplicateKey:
            return "DuplicateKey";
        case ConfigIssueKind::MissingKey:
            return "MissingKey";
        case ConfigIssueKind::WrongType:
            return "WrongType";
        case ConfigIssueKind::BadValue:
            return "BadValue";
        case ConfigIssueKind::OutOfBounds:
            return "OutOfBounds";
        case ConfigIssueKind::Conflict:
            return "Conflict";
    }
    return "Unknown";
}

std::string ConfigIssue::format() const {
    std::string text = file;
    if (line > 0) {
        text += ':' + std::to_string(line) + ':' + std::to_string(column);
    }
    text += ": ";
    if (!key.empty()) {
        text += key + ": ";
    }
    text += message;
    return text;
}

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(joinIssues(issues)), issues_(std::move(issues)) {
    assert(!issues_.empty());
}

}  // namespace megafuse::config
