// LazinessTest: laziness proven by counting objects in the daemon's partial clone — mounting
// fetches no blob, reading a file fetches its directory's blobs (not its subdirectories') in one
// round (counted in packs), `ls -l` of a directory fetches that directory's blobs (for their
// sizes) and nothing else, the first read in another directory brings that one whole in one
// round, and a second mount reuses the clone.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <sstream>

#include "MountFixture.hpp"
#include "support/Git.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {
namespace {

constexpr const char* kEmptyBlob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

std::string describeIds(const std::set<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) {
        text += " " + id;
    }
    return ids.empty() ? " (none)" : text;
}

std::set<std::string> without(const std::set<std::string>& all, const std::set<std::string>& out) {
    std::set<std::string> rest;
    std::set_difference(all.begin(), all.end(), out.begin(), out.end(),
                        std::inserter(rest, rest.end()));
    return rest;
}

std::set<std::string> common(const std::set<std::string>& a, const std::set<std::string>& b) {
    std::set<std::string> both;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(both, both.end()));
    return both;
}

// Each fetch round leaves exactly one pack in the clone (git keeps promisor fetches as packs), so
// packs count round trips.
size_t packCount(const std::filesystem::path& clone) {
    size_t packs = 0;
    for (const auto& entry : std::filesystem::directory_iterator(clone / "objects" / "pack")) {
        packs += entry.path().extension() == ".pack" ? 1 : 0;
    }
    return packs;
}

class LazinessTest : public MountFixture, public ::testing::WithParamInterface<SourceKind> {};

TEST_P(LazinessTest, ReadingOneFileFetchesItsDirectoryInOneRound) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto daemon = mount(request(served.source(), "main"));
    const auto clone = cacheClone();
    const std::string dir = SampleRepo::kSubPath;
    EXPECT_EQ(localObjects(clone, "blob"), std::set<std::string>{})
        << "mounting alone fetched blobs";

    const size_t packsBefore = packCount(clone);
    int error = 0;
    auto bytes = readFileOrErrno(mountPoint() / SampleRepo::kFileInSubPath, error);
    ASSERT_TRUE(bytes.has_value()) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes("main", SampleRepo::kFileInSubPath));
    EXPECT_EQ(packCount(clone), packsBefore + 1) << "not one fetch round for " << dir;

    // The file's siblings came in the same round: reading them costs nothing more.
    const auto direct = blobsOfTree(repo_.dir, "main:" + dir, false);
    const auto local = localObjects(clone, "blob");
    std::set<std::string> missing = without(direct, local);
    missing.erase(kEmptyBlob);
    EXPECT_TRUE(missing.empty()) << "reading one file of " << dir
                                 << " did not bring its siblings:" << describeIds(missing);
    const auto overFetched = common(without(blobsOfTree(repo_.dir, "main", true), direct), local);
    EXPECT_TRUE(overFetched.empty())
        << "reading one file of " << dir << " fetched blobs from outside it (subdirectories "
        << "included):" << describeIds(overFetched);

    // Reading on in the directory is served locally.
    for (const std::string name : {"one.txt", "two.txt"}) {
        ASSERT_TRUE(readFileOrErrno(mountPoint() / dir / name, error)) << errnoText(error);
    }
    EXPECT_EQ(packCount(clone), packsBefore + 1) << "reading on in " << dir << " fetched again";
}

TEST_P(LazinessTest, ListingADirectoryFetchesItsBlobsWithTheRightSizes) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto daemon = mount(request(served.source(), "main"));
    const auto clone = cacheClone();
    const std::string dir = SampleRepo::kSubPath;

    // What `ls -l a/b` does: list, then lstat every entry.
    std::set<std::string> seen;
    for (const auto& entry : std::filesystem::directory_iterator(mountPoint() / dir)) {
        const std::string name = entry.path().filename().string();
        seen.insert(name);
        struct stat st {};
        ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0) << name << ": " << errnoText(errno);
        std::string object = "main:" + dir;
        object += "/" + name;
        if (gitLine(repo_.dir, {"cat-file", "-t", object}) == "blob") {
            const auto size = std::stoll(gitLine(repo_.dir, {"cat-file", "-s", object}));
            EXPECT_EQ(static_cast<long long>(st.st_size), size) << name;
        }
    }
    std::istringstream listing(git(repo_.dir, {"ls-tree", "-z", "--name-only", "main:" + dir}));
    std::set<std::string> names;
    for (std::string name; std::getline(listing, name, '\0');) {
        names.insert(name);
    }
    EXPECT_EQ(seen, names);

    const auto direct = blobsOfTree(repo_.dir, "main:" + dir, false);
    const auto local = localObjects(clone, "blob");
    std::set<std::string> missing = without(direct, local);
    // Its size is known without a fetch; a daemon may rightly never ask for it.
    missing.erase(kEmptyBlob);
    EXPECT_TRUE(missing.empty()) << "sizes were shown but these blobs of " << dir
                                 << " are not local:" << describeIds(missing);

    // Blobs that only exist elsewhere in the tree must not have been fetched.
    const auto overFetched = common(without(blobsOfTree(repo_.dir, "main", true), direct), local);
    EXPECT_TRUE(overFetched.empty())
        << "ls -l " << dir << " fetched blobs from outside it:" << describeIds(overFetched);
}

TEST_P(LazinessTest, ReadingTwoFilesOfADirectoryFetchesTheRestOfItInOneBatch) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto daemon = mount(request(served.source(), "main"));
    const auto clone = cacheClone();
    const std::string dir = SampleRepo::kSubPath;

    // Two regular files of the directory, read by name without listing it (what a build does).
    std::vector<std::string> files;
    std::istringstream tree(git(repo_.dir, {"ls-tree", "-z", "main:" + dir}));
    for (std::string line; std::getline(tree, line, '\0') && files.size() < 2;) {
        if (line.starts_with("100644 blob ") && line.find(kEmptyBlob) == std::string::npos) {
            files.push_back(line.substr(line.find('\t') + 1));
        }
    }
    ASSERT_EQ(files.size(), 2U) << "the sample repository needs two regular files in " << dir;
    for (const auto& name : files) {
        int error = 0;
        auto bytes = readFileOrErrno(mountPoint() / dir / name, error);
        ASSERT_TRUE(bytes.has_value()) << name << ": " << errnoText(error);
        EXPECT_EQ(*bytes, gitBytes("main", (std::filesystem::path(dir) / name).string()));
    }

    const auto direct = blobsOfTree(repo_.dir, "main:" + dir, false);
    const auto local = localObjects(clone, "blob");
    std::set<std::string> missing = without(direct, local);
    missing.erase(kEmptyBlob);
    EXPECT_TRUE(missing.empty()) << "the second read in " << dir
                                 << " did not bring the directory's other blobs:"
                                 << describeIds(missing);
    const auto overFetched = common(without(blobsOfTree(repo_.dir, "main", true), direct), local);
    EXPECT_TRUE(overFetched.empty())
        << "reads in " << dir << " fetched blobs from outside it:" << describeIds(overFetched);
}

TEST_P(LazinessTest, AReadInAnotherDirectoryFetchesThatOneInOneRound) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto daemon = mount(request(served.source(), "main"));
    const auto clone = cacheClone();
    const std::string walked = SampleRepo::kSubPath;

    // A reader walking files: two of a/b by name (the first read batches a/b) ...
    for (const std::string name : {"one.txt", "two.txt"}) {
        int error = 0;
        ASSERT_TRUE(readFileOrErrno(mountPoint() / walked / name, error)) << errnoText(error);
    }
    // ... then one file of another directory, never listed: that directory comes whole, at once.
    const size_t packsBefore = packCount(clone);
    int error = 0;
    auto bytes = readFileOrErrno(mountPoint() / "README.md", error);
    ASSERT_TRUE(bytes.has_value()) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes("main", "README.md"));
    EXPECT_EQ(packCount(clone), packsBefore + 1) << "not one fetch round for the root directory";

    const auto root = blobsOfTree(repo_.dir, "main", false);
    const auto local = localObjects(clone, "blob");
    std::set<std::string> missing = without(root, local);
    missing.erase(kEmptyBlob);
    EXPECT_TRUE(missing.empty()) << "the first read in the root did not bring the root's other "
                                    "blobs:"
                                 << describeIds(missing);
    std::set<std::string> read = blobsOfTree(repo_.dir, "main:" + walked, false);
    read.insert(root.begin(), root.end());
    const auto overFetched = common(without(blobsOfTree(repo_.dir, "main", true), read), local);
    EXPECT_TRUE(overFetched.empty())
        << "the walk fetched blobs of directories it never entered:" << describeIds(overFetched);
}

TEST_P(LazinessTest, ASecondMountReusesTheCachedClone) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    {
        auto daemon = mount(request(served.source(), "main"));
        int error = 0;
        ASSERT_TRUE(readFileOrErrno(mountPoint() / SampleRepo::kFileInSubPath, error))
            << errnoText(error);
        EXPECT_EQ(daemon->stop().status, 0);
    }
    const auto firstClone = cacheClone();
    auto daemon = mount(request(served.source(), "feature"));
    EXPECT_EQ(cacheClone(), firstClone);
    EXPECT_TRUE(localObjects(firstClone, "blob").count(blobId("main", SampleRepo::kFileInSubPath)))
        << "the blob fetched by the first mount is gone";
    int error = 0;
    auto bytes = readFileOrErrno(mountPoint() / "feature.txt", error);
    ASSERT_TRUE(bytes.has_value()) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes("feature", "feature.txt"));
}

INSTANTIATE_TEST_SUITE_P(RemoteSources, LazinessTest,
                         ::testing::Values(SourceKind::FileUrl, SourceKind::GitDaemon,
                                           SourceKind::Http),
                         [](const auto& param) { return std::string(toString(param.param)); });

}  // namespace
}  // namespace megafuse::test
