// OverlayCheckTest: the check CrashLoopTest relies on can fail — it passes a whole overlay and
// names the node when an entry points at a node that is gone (damage recovery cannot repair).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "overlay/OverlayCheck.hpp"
#include "overlay/OverlayStore.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) {
        text += line + "\n";
    }
    return text;
}

TEST(OverlayCheckTest, PassesAWholeOverlayAndNamesAnEntryWhoseNodeIsGone) {
    TempDir dir("megafuse-stress");
    const auto overlayDir = dir / "overlay";
    {
        auto overlay = overlay::OverlayStore::open(overlayDir);
        overlay::NodeAttributes directory;
        directory.type = overlay::NodeType::Directory;
        directory.permissions = 0755;
        overlay->materializeRoot({}, directory);
        overlay->transaction([&] {
            const auto sub = overlay->createNode(directory);
            overlay->put(overlay::kRootNode, overlay::DirEntry::overlayNode("sub", sub));
            const auto file = overlay->createNode(overlay::NodeAttributes{});
            overlay->put(sub, overlay::DirEntry::overlayNode("file", file));
        });
    }
    auto report = overlay::checkOverlay(overlayDir);
    EXPECT_TRUE(report.ok()) << joined(report.problems);
    EXPECT_EQ(report.nodes, 3U);
    EXPECT_EQ(report.directoryNodes, 2U);
    EXPECT_EQ(report.fileNodes, 1U);

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((overlayDir / "overlay.db").c_str(), &db), SQLITE_OK);
    const int rc = sqlite3_exec(db, "UPDATE entries SET node = 999 WHERE dir = 1 AND node != 0",
                                nullptr, nullptr, nullptr);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK);
    report = overlay::checkOverlay(overlayDir);
    ASSERT_FALSE(report.ok()) << "a dangling entry passed the check";
    EXPECT_NE(report.problems.front().find("node 999 (/sub) is named but missing"),
              std::string::npos)
        << joined(report.problems);
}

}  // namespace
}  // namespace megafuse::test
