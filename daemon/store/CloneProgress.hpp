// CloneProgress: reads what `git clone --progress` writes on stderr, chunk by chunk as it comes —
// lines ended by '\r' (git redrawing one progress line) or '\n' — and turns "Receiving objects:
// 45% (94/208)" and "Resolving deltas:  60% (90/150)" into counts, keeping the other lines for
// an error message (hundreds of progress redraws would bury git's one line that says why).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace megafuse::store {

struct CloneProgressUpdate {
    enum class Phase {
        ReceivingObjects,  // the pack from the server: network-bound, the long part
        ResolvingDeltas,   // index-pack resolving the received deltas, local
    };
    Phase phase = Phase::ReceivingObjects;
    uint64_t done = 0;
    uint64_t total = 0;

    bool operator==(const CloneProgressUpdate&) const = default;
};

class CloneProgressParser {
public:
    // Keeps at most this much of git's other output; the rest is counted, not stored.
    static constexpr size_t kMaxMessageBytes = 16U << 10U;

    // The updates carried by the lines this chunk completes, in order. A line split across
    // chunks counts once, when its end arrives.
    std::vector<CloneProgressUpdate> feed(std::string_view chunk);

    // git's lines that are not progress ("Cloning into ...", "fatal: ..."), '\n'-separated,
    // with an unfinished last line included.
    [[nodiscard]] std::string messages() const;

    // The latest update of the receiving phase: how many objects the clone has.
    [[nodiscard]] std::optional<CloneProgressUpdate> lastReceived() const { return received_; }

private:
    std::optional<CloneProgressUpdate> parseLine(std::string_view line);
    void keepMessage(std::string_view line);

    std::string partial_;  // a line whose end has not arrived yet (bounded like messages_)
    std::string messages_;
    std::optional<CloneProgressUpdate> received_;
};

}  // namespace megafuse::store
