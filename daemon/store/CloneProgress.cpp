// CloneProgress: git's progress format is "<title>: <pct>% (<done>/<total>)", then on the last
// redraw ", <throughput>, done."; the server's own phases arrive prefixed with "remote: ".
#include "store/CloneProgress.hpp"

#include <algorithm>
#include <charconv>

namespace megafuse::store {
namespace {

constexpr std::string_view kRemote = "remote: ";

struct Title {
    std::string_view text;
    CloneProgressUpdate::Phase phase;
};
constexpr Title kTitles[] = {
    {"Receiving objects:", CloneProgressUpdate::Phase::ReceivingObjects},
    {"Resolving deltas:", CloneProgressUpdate::Phase::ResolvingDeltas},
};

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

std::optional<uint64_t> number(std::string_view text) {
    uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return value;
}

// "<pct>% (<done>/<total>)..." → done, total.
std::optional<std::pair<uint64_t, uint64_t>> counts(std::string_view rest) {
    const size_t open = rest.find("% (");
    if (open == std::string_view::npos) {
        return std::nullopt;
    }
    rest.remove_prefix(open + 3);
    const size_t slash = rest.find('/');
    const size_t close = rest.find(')');
    if (slash == std::string_view::npos || close == std::string_view::npos || close < slash) {
        return std::nullopt;
    }
    auto done = number(rest.substr(0, slash));
    auto total = number(rest.substr(slash + 1, close - slash - 1));
    if (!done || !total || *done > *total) {
        return std::nullopt;
    }
    return std::pair(*done, *total);
}

// A line of a phase git redraws: "<title>: NN% (x/y)" from any side.
bool isProgressLine(std::string_view line) {
    return line.find("% (") != std::string_view::npos && line.find(':') != std::string_view::npos;
}

}  // namespace

std::vector<CloneProgressUpdate> CloneProgressParser::feed(std::string_view chunk) {
    std::vector<CloneProgressUpdate> updates;
    while (!chunk.empty()) {
        const size_t end = chunk.find_first_of("\r\n");
        if (end == std::string_view::npos) {
            // A line longer than the message budget is not progress: keep its start only.
            partial_.append(
                chunk.substr(0, kMaxMessageBytes - std::min(kMaxMessageBytes, partial_.size())));
            break;
        }
        partial_.append(chunk.substr(0, end));
        chunk.remove_prefix(end + 1);
        if (auto update = parseLine(trimmed(partial_))) {
            updates.push_back(*update);
        }
        partial_.clear();
    }
    return updates;
}

std::optional<CloneProgressUpdate> CloneProgressParser::parseLine(std::string_view line) {
    if (line.empty()) {
        return std::nullopt;
    }
    for (const Title& title : kTitles) {
        if (line.substr(0, title.text.size()) != title.text) {
            continue;
        }
        if (auto c = counts(line.substr(title.text.size()))) {
            CloneProgressUpdate update{title.phase, c->first, c->second};
            if (title.phase == CloneProgressUpdate::Phase::ReceivingObjects) {
                received_ = update;
            }
            return update;
        }
    }
    // The server's phases (counting, compressing) and any other redrawn line are noise here.
    const std::string_view local =
        line.substr(0, kRemote.size()) == kRemote ? line.substr(kRemote.size()) : line;
    if (!isProgressLine(local)) {
        keepMessage(line);
    }
    return std::nullopt;
}

void CloneProgressParser::keepMessage(std::string_view line) {
    if (messages_.size() >= kMaxMessageBytes) {
        return;
    }
    messages_.append(line.substr(0, kMaxMessageBytes - messages_.size() - 1));  // and '\n'
    messages_ += '\n';
}

std::string CloneProgressParser::messages() const {
    std::string text = messages_;
    if (const std::string_view rest = trimmed(partial_); !rest.empty()) {
        text.append(rest);
    } else if (!text.empty()) {
        text.pop_back();  // no trailing newline: messages end up inside one-line errors
    }
    return text;
}

}  // namespace megafuse::store
