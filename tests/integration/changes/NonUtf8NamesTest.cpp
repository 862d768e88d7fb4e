// File names that are not UTF-8 in a writable mount, seen through D-Bus, whose strings must be
// UTF-8: the daemon must answer (not send a reply sd-bus refuses, leaving the caller waiting),
// name the file losslessly — quoted as `git status --porcelain` quotes it — accept that quoted
// name back, and say clearly when a diff's content cannot travel. Real daemon, bus and megactl.
#include <unistd.h>

#include <fstream>

#include "MegactlFixture.hpp"
#include "support/Git.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;

// Bytes 0xff 0xfe: never UTF-8. Quoted with octal escapes by Git and by the D-Bus replies.
const std::string kBadName = "bad\xff\xfe";
const std::string kBadNameQuoted = R"("bad\377\376")";

class NonUtf8NamesTest : public MegactlTest {
protected:
    void SetUp() override {
        if (!ServiceDaemon::available()) {
            GTEST_FAIL() << "mega-fused is not built (" << ServiceDaemon::binary() << ")";
        }
        origin_ = tmp_.makeDir("origin");
        git(origin_, {"init", "-q", "-b", "main"});
        writeText(origin_ / "README.md", "hello\n");
        git(origin_, {"add", "-A"});
        git(origin_, {"commit", "-q", "-m", "base"});
        checkout_ = tmp_ / "checkout";
        git(tmp_.path(), {"clone", "-q", origin_.string(), checkout_.string()});

        mount_ = tmp_.makeDir("mnt/work");
        const fs::path config = writeUserConfig(
            "mounts:\n"
            "  - name: work\n"
            "    source: " +
            origin_.string() + "\n" + "    revision: main\n" +
            "    mountpoint: " + mount_.string() + "\n" + "    writable: true\n");
        daemon_ =
            std::make_unique<ServiceDaemon>(config, bus_, home_, std::vector<fs::path>{mount_});
        ASSERT_TRUE(waitForState("work", "mounted")) << daemon_->log();
    }

    void TearDown() override { daemon_.reset(); }

    // A bounded wait: a reply the daemon could not send would otherwise hold the test for the
    // default call timeout.
    SubprocessResult call(std::vector<std::string> args) {
        args.insert(args.begin(), {"--timeout", "20"});
        return megactl(args);
    }

    SubprocessResult ok(const std::vector<std::string>& args) {
        auto result = call(args);
        EXPECT_EQ(result.exitCode, 0) << describe(result) << "\n" << daemon_->log();
        return result;
    }

    std::string gitStatusAfterAddAll() {
        git(checkout_, {"add", "-A"});
        return git(checkout_, {"status", "--porcelain"});
    }

    fs::path origin_;
    fs::path checkout_;
    fs::path mount_;
    std::unique_ptr<ServiceDaemon> daemon_;
};

TEST_F(NonUtf8NamesTest, ChangesAndDiffQuoteTheNameAsGitDoes) {
    for (const fs::path& root : {mount_, checkout_}) {
        writeText(root / kBadName, "x\n");
        fs::rename(root / "README.md", root / ("read\xe9.md"));
    }
    const std::string changes = ok({"changes", "work"}).out;
    EXPECT_NE(changes.find("A  " + kBadNameQuoted + "\n"), std::string::npos) << changes;
    EXPECT_EQ(changes, gitStatusAfterAddAll());
    EXPECT_EQ(ok({"diff", "work"}).out, git(checkout_, {"diff", "--cached", "-M"}));
    const std::string json = ok({"--json", "changes", "work"}).out;
    EXPECT_NE(json.find(R"("path":"\"bad\\377\\376\"")"), std::string::npos) << json;

    // The quoted name is accepted back, and names that file alone.
    EXPECT_EQ(ok({"changes", "work", kBadNameQuoted}).out, "A  " + kBadNameQuoted + "\n");
    EXPECT_EQ(ok({"--json", "reset", "work", kBadNameQuoted}).out,
              R"({"name":"work","paths":["\"bad\\377\\376\""],"reset":1})"
              "\n");
    EXPECT_FALSE(fs::exists(mount_ / kBadName));
    EXPECT_EQ(call({"changes", "work", R"("bad\3")"}).exitCode, 2);
    EXPECT_EQ(ok({"changes", "work"}).out, "R  README.md -> \"read\\351.md\"\n");
}

TEST_F(NonUtf8NamesTest, DiffOfContentThatIsNotUtf8FailsClearlyAndTheDaemonStaysUp) {
    writeText(mount_ / "latin1.txt", "caf\xe9\n");
    writeText(mount_ / "utf8.txt", "caf\xc3\xa9\n");
    const auto refused = call({"diff", "work"});
    EXPECT_EQ(refused.exitCode, 1) << describe(refused);
    EXPECT_NE(refused.err.find("not UTF-8"), std::string::npos) << refused.err;
    // Other paths still diff, and the daemon answers everything else.
    EXPECT_NE(ok({"diff", "work", "utf8.txt"}).out.find("+caf\xc3\xa9\n"), std::string::npos);
    EXPECT_EQ(ok({"changes", "work"}).out, "A  latin1.txt\nA  utf8.txt\n");
    EXPECT_NE(ok({"--json", "status", "work"}).out.find("\"state\":\"mounted\""),
              std::string::npos);
}

}  // namespace
}  // namespace megafuse::test
