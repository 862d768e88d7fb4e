// CloneProgressParser on what git 2.39 really printed: `git clone --bare --progress
// --filter=blob:none` of a 3,000-file repository (data/clone-progress.stderr) and of a missing
// repository (data/clone-failed.stderr), captured with stderr on a pipe as the daemon runs it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "store/CloneProgress.hpp"

namespace megafuse::store {
namespace {

using Phase = CloneProgressUpdate::Phase;

std::string capture(const char* name) {
    std::ifstream in(std::string(MEGAFUSE_STORE_TEST_DATA) + "/" + name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

std::vector<CloneProgressUpdate> ofPhase(const std::vector<CloneProgressUpdate>& updates,
                                         Phase phase) {
    std::vector<CloneProgressUpdate> out;
    for (const auto& update : updates) {
        if (update.phase == phase) {
            out.push_back(update);
        }
    }
    return out;
}

TEST(CloneProgressTest, ReadsReceivingAndResolvingFromARealClone) {
    CloneProgressParser parser;
    const auto updates = parser.feed(capture("clone-progress.stderr"));

    const auto received = ofPhase(updates, Phase::ReceivingObjects);
    ASSERT_FALSE(received.empty());
    EXPECT_EQ(received.front(), (CloneProgressUpdate{Phase::ReceivingObjects, 1, 208}));
    // The last redraw carries the throughput and ", done.": the same counts.
    EXPECT_EQ(received.back(), (CloneProgressUpdate{Phase::ReceivingObjects, 208, 208}));
    for (size_t i = 1; i < received.size(); ++i) {
        EXPECT_LE(received[i - 1].done, received[i].done);
        EXPECT_EQ(received[i].total, 208U);
    }
    EXPECT_EQ(parser.lastReceived(), received.back());

    const auto resolved = ofPhase(updates, Phase::ResolvingDeltas);
    ASSERT_FALSE(resolved.empty());
    EXPECT_EQ(resolved.back(), (CloneProgressUpdate{Phase::ResolvingDeltas, 150, 150}));
    // Every receiving update comes before the first resolving one.
    EXPECT_EQ(updates.size(), received.size() + resolved.size());
    EXPECT_EQ(updates[received.size()].phase, Phase::ResolvingDeltas);

    // The server's counting and compressing redraws are not kept; its one-line summaries are.
    EXPECT_EQ(parser.messages(),
              "Cloning into bare repository 'sample.git'...\n"
              "remote: Enumerating objects: 208, done.\n"
              "remote: Total 208 (delta 150), reused 0 (delta 0), pack-reused 0");
}

TEST(CloneProgressTest, ChunkBoundariesDoNotMatter) {
    const std::string bytes = capture("clone-progress.stderr");
    CloneProgressParser whole;
    const auto expected = whole.feed(bytes);
    for (size_t chunk : {1U, 7U, 64U, 4096U}) {
        CloneProgressParser split;
        std::vector<CloneProgressUpdate> updates;
        for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
            auto more = split.feed(std::string_view(bytes).substr(pos, chunk));
            updates.insert(updates.end(), more.begin(), more.end());
        }
        EXPECT_EQ(updates, expected) << "chunks of " << chunk;
        EXPECT_EQ(split.messages(), whole.messages()) << "chunks of " << chunk;
    }
}

TEST(CloneProgressTest, FailureKeepsGitsReasonWithoutProgress) {
    CloneProgressParser parser;
    EXPECT_TRUE(parser.feed(capture("clone-failed.stderr")).empty());
    EXPECT_FALSE(parser.lastReceived());
    EXPECT_EQ(parser.messages(),
              "Cloning into bare repository 'sample.git'...\n"
              "fatal: '/srv/git/missing.git' does not appear to be a git repository\n"
              "fatal: Could not read from remote repository.\n"
              "Please make sure you have the correct access rights\n"
              "and the repository exists.");
}

TEST(CloneProgressTest, UnfinishedAndMalformedLines) {
    CloneProgressParser parser;
    EXPECT_TRUE(parser.feed("Receiving objects:  50% (5/10)").empty());  // no end yet
    EXPECT_EQ(parser.feed("\r"),
              (std::vector<CloneProgressUpdate>{{Phase::ReceivingObjects, 5, 10}}));
    // More done than total, or no numbers: not progress, and not a message either.
    EXPECT_TRUE(
        parser.feed("Receiving objects:  50% (11/10)\rReceiving objects: 50% (x/y)\r").empty());
    EXPECT_EQ(parser.messages(), "");
    parser.feed("error: RPC failed");
    EXPECT_EQ(parser.messages(), "error: RPC failed");
}

TEST(CloneProgressTest, MessagesAreBounded) {
    CloneProgressParser parser;
    const std::string line(1000, 'x');
    for (int i = 0; i < 100; ++i) {
        parser.feed(line + "\n");
    }
    parser.feed(std::string(100'000, 'y'));  // one endless line
    EXPECT_LE(parser.messages().size(), 2 * CloneProgressParser::kMaxMessageBytes);
}

}  // namespace
}  // namespace megafuse::store
