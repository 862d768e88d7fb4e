// ToolsTest: real programs inside the mount — git, tar, cp -a, make and cc, an editor's save.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "WritableFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

class ToolsTest : public WritableFixture {};

TEST_F(ToolsTest, GitInitAddCommitOfASubtree) {
    auto daemon = mount();
    const auto result = shell(
        "cd src && git init -q && git add -A && git commit -qm 'in the mount' && "
        "echo change >> util.h && git commit -qam second && git fsck --strict && "
        "git log --oneline | wc -l && git status --porcelain",
        mountPoint());
    ASSERT_TRUE(result.ok()) << result.describe();
    EXPECT_EQ(result.out, "2\n");
    daemon->stop();
}

TEST_F(ToolsTest, TarExtractAndCpAMatchNative) {
    const auto native = nativeCopy("native");
    const auto archive = dir_ / "src.tar";
    ASSERT_TRUE(shell("tar cf " + archive.string() + " .", native).ok());
    auto daemon = mount();
    ASSERT_TRUE(shell("mkdir untar && cd untar && tar xf " + archive.string(), mountPoint()).ok());
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint() / "untar")), "");
    const auto copy = shell("cp -a src src-copy && cp -a many many-copy", mountPoint());
    ASSERT_TRUE(copy.ok()) << copy.describe();
    EXPECT_EQ(joinDifferences(compareTrees(native / "src", mountPoint() / "src-copy")), "");
    EXPECT_EQ(joinDifferences(compareTrees(native / "many", mountPoint() / "many-copy")), "");
    daemon->stop();
}

TEST_F(ToolsTest, MakeBuildsAndThenHasNothingToDo) {
    auto daemon = mount();
    writeFile(mountPoint() / "src/Makefile",
              "prog: main.o util.o\n\tcc -o prog main.o util.o\n"
              "%.o: %.c util.h\n\tcc -c -o $@ $<\n");
    auto build = shell("make && ./prog && echo built", mountPoint() / "src");
    ASSERT_TRUE(build.ok()) << build.describe();
    auto again = shell("make", mountPoint() / "src");
    ASSERT_TRUE(again.ok()) << again.describe();
    EXPECT_NE(again.out.find("up to date"), std::string::npos) << again.out;
    // A source change rebuilds just what depends on it.
    ASSERT_TRUE(shell("sleep 0.01; touch util.c && make", mountPoint() / "src").ok());
    daemon->stop();
}

TEST_F(ToolsTest, EditorStyleSave) {
    auto daemon = mount();
    const auto target = mountPoint() / "src/util.c";
    const auto temp = mountPoint() / "src/.util.c.swp";
    {
        UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        ASSERT_TRUE(fd);
        const std::string bytes = "int util(void) { return 1; }\n";
        ASSERT_EQ(::write(fd.get(), bytes.data(), bytes.size()),
                  static_cast<ssize_t>(bytes.size()));
        ASSERT_EQ(::fsync(fd.get()), 0);
    }
    ASSERT_EQ(::rename(temp.c_str(), target.c_str()), 0);
    {
        UniqueFd dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_EQ(::fsync(dir.get()), 0);
    }  // closed before the unmount, which would otherwise wait for it
    EXPECT_EQ(readFile(target), "int util(void) { return 1; }\n");
    EXPECT_FALSE(std::filesystem::exists(temp));
    daemon->stop();
}

}  // namespace
}  // namespace megafuse::test
