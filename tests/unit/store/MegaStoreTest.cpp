// MegaStoreTest: MegaObjectStore against the Mega stand-in (tests/support/mega-standin.py, written
// from Mega's published API) serving the sample repository: every tree, blob and size must be
// the repository's own, only what is asked for is requested, and each failure has its name.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "store/GitObjectFormat.hpp"
#include "store/HttpClient.hpp"
#include "store/MegaObjectStore.hpp"
#include "support/Git.hpp"
#include "support/MegaStandIn.hpp"
#include "support/SampleRepo.hpp"
#include "support/TempDir.hpp"

namespace megafuse::store {
namespace {

using test::MegaStandIn;

std::string hexOf(const std::filesystem::path& repo, const std::string& rev) {
    return test::gitLine(repo, {"rev-parse", rev});
}

ObjectId idOf(const std::filesystem::path& repo, const std::string& rev) {
    return *ObjectId::fromHex(hexOf(repo, rev));
}

std::string readAll(int fd) {
    std::string out;
    char buffer[4096];
    off_t offset = 0;
    while (true) {
        ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
        if (n <= 0) {
            break;
        }
        out.append(buffer, static_cast<size_t>(n));
        offset += n;
    }
    return out;
}

StoreErrc codeOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const StoreError& e) {
        return e.code();
    }
    ADD_FAILURE() << "no StoreError thrown";
    return StoreErrc::Io;
}

class MegaStoreTest : public ::testing::Test {
protected:
    MegaStoreTest()
        : dir_("mega-store"),
          repo_(test::SampleRepo::build(dir_ / "repo")),
          server_(repo_.dir, dir_ / "standin", test::SampleRepo::kMainBranch) {}

    std::unique_ptr<StoreRegistry> makeRegistry(
        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        StoreOptions options;
        options.cacheDir = dir_ / ("cache" + std::to_string(registries_++));
        options.contentCacheBytes = 64ULL << 20U;
        options.fetchTimeout = timeout;
        options.fetchConcurrency = 4;
        return std::make_unique<StoreRegistry>(options);
    }

    std::shared_ptr<ObjectStore> open(StoreRegistry& registry, const std::string& path = "/",
                                      const std::filesystem::path& tokenFile = {}) {
        return registry.open(SourceSpec::mega(server_.baseUrl(), path, tokenFile));
    }

    std::filesystem::path tokenFile(const std::string& token, mode_t mode) {
        auto file = dir_ / ("token" + std::to_string(registries_++));
        std::ofstream(file) << token << "\n";
        ::chmod(file.c_str(), mode);
        return file;
    }

    test::TempDir dir_;
    test::SampleRepo repo_;
    MegaStandIn server_;
    int registries_ = 0;
};

TEST(GitObjectFormatTest, ParsesARealTreeAndRejectsDamagedOnes) {
    test::TempDir dir("mega-format");
    auto repo = test::SampleRepo::build(dir / "repo");
    const std::string raw = test::git(repo.dir, {"cat-file", "tree", "main:a/b"});
    EXPECT_EQ(hashTreeObject(raw).hex(), hexOf(repo.dir, "main:a/b"));
    const auto entries = parseTreeObject(raw, "a/b");
    ASSERT_FALSE(entries.empty());
    for (const auto& entry : entries) {
        EXPECT_EQ(entry.id.hex(), hexOf(repo.dir, "main:a/b/" + entry.name)) << entry.name;
    }
    const auto corrupt = [](std::string_view bytes) {
        try {
            parseTreeObject(bytes, "test");
        } catch (const StoreError& e) {
            return e.code() == StoreErrc::Corrupt;
        }
        return false;
    };
    EXPECT_TRUE(corrupt(raw.substr(0, raw.size() - 1)));  // truncated id
    EXPECT_TRUE(corrupt("garbage"));
    EXPECT_TRUE(corrupt(std::string("100644 \0", 8) + std::string(20, 'x')));  // empty name
    EXPECT_TRUE(corrupt(std::string("100644 a/b\0", 11) + std::string(20, 'x')));
    EXPECT_TRUE(corrupt("10064x name"));
    EXPECT_TRUE(parseTreeObject("", "empty").empty());
}

TEST(MegaSourceSpecTest, ParsesMegaUrlsAndRejectsBadOnes) {
    auto spec = SourceSpec::parse("mega+http://127.0.0.1:8000/third-party/foo/");
    EXPECT_EQ(spec.kind, SourceSpec::Kind::Mega);
    EXPECT_EQ(spec.location, "http://127.0.0.1:8000");
    EXPECT_EQ(spec.megaPath, "/third-party/foo");
    EXPECT_EQ(SourceSpec::parse("mega+https://mega.example.com").megaPath, "/");
    EXPECT_EQ(SourceSpec::mega("http://h:1/", "//a//b/").megaPath, "/a/b");
    EXPECT_EQ(urlEncodePath("/a b/c++/#1/ü"), "/a%20b/c%2B%2B/%231/%C3%BC");
    EXPECT_EQ(codeOf([] { SourceSpec::mega("ftp://h", "/"); }), StoreErrc::BadSource);
    EXPECT_EQ(codeOf([] { SourceSpec::mega("http://h", "a"); }), StoreErrc::BadSource);
    EXPECT_EQ(codeOf([] { SourceSpec::mega("http://h", "/a/../b"); }), StoreErrc::BadSource);
}

TEST_F(MegaStoreTest, TreesBlobsAndSizesAreTheRepositorys) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId commit = store->resolveCommit("HEAD");
    EXPECT_EQ(commit.hex(), repo_.mainCommit);
    EXPECT_GT(store->commitTime(commit), 0);
    const ObjectId root = store->treeAtPath(commit, "");
    EXPECT_EQ(root, idOf(repo_.dir, "main^{tree}"));
    auto tree = store->readTree(root);
    const TreeEntry* a = tree->find("a");
    ASSERT_NE(a, nullptr);
    auto treeA = store->readTree(a->id);
    auto treeB = store->readTree(treeA->find("b")->id);
    EXPECT_EQ(treeB->id(), idOf(repo_.dir, "main:a/b"));
    const TreeEntry* one = treeB->find("one.txt");
    ASSERT_NE(one, nullptr);
    const std::string expected = test::git(repo_.dir, {"cat-file", "blob", one->id.hex()});
    EXPECT_EQ(store->blobSize(one->id), expected.size());  // HEAD
    EXPECT_FALSE(store->hasBlob(one->id));
    UniqueFd fd = store->openBlob(one->id);
    EXPECT_EQ(readAll(fd.get()), expected);
    EXPECT_TRUE(store->hasBlob(one->id));
    EXPECT_EQ(store->readBlob(treeB->find("link-to-one")->id, 4096), "one.txt");

    const auto stats = server_.stats();
    EXPECT_EQ(stats.count("/api/v1/file/blob(HEAD)"), 1);  // readBlob needs no HEAD
    EXPECT_EQ(stats.count("/api/v1/file/blob"), 2);        // one.txt and the link
    // Only the directories walked were asked for, each once.
    EXPECT_EQ(stats.treePaths, (std::vector<std::string>{"/", "/a", "/a/b"}));
    EXPECT_EQ(store->stats().objectsFetched, 5U);
}

TEST_F(MegaStoreTest, AMountPathIsTheRootAndSubPathsAreBelowIt) {
    auto registry = makeRegistry();
    auto store = open(*registry, "/a");
    const ObjectId commit = store->resolveCommit("");
    EXPECT_EQ(store->treeAtPath(commit, "b"), idOf(repo_.dir, "main:a/b"));
    EXPECT_EQ(store->treeAtPath(commit, "/"), idOf(repo_.dir, "main:a"));
    EXPECT_EQ(codeOf([&] { store->treeAtPath(commit, "nope"); }), StoreErrc::NotFound);
    EXPECT_EQ(store->describe().find("path /a") != std::string::npos, true);
}

TEST_F(MegaStoreTest, WrittenObjectsAreReadBackLocallyAndTheRootCannotBePushed) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId base = store->resolveCommit("HEAD");
    const ObjectId root = store->treeAtPath(base, "");
    auto entries = store->readTree(root)->entries();
    const ObjectId blob = store->writeBlob("written locally\n");
    entries.push_back(TreeEntry{"written.txt", blob, EntryKind::Regular});
    NewCommit commit;
    commit.tree = store->writeTree(entries);
    commit.parents = {base};  // the served commit: not local, and need not be to commit
    commit.author = GitSignature{"A U Thor", "author@example.invalid", 1700000000, -90};
    commit.committer = commit.author;
    commit.message = "local\n";
    const ObjectId created = store->writeCommit(commit);
    store->updateRef("refs/mega-fuse/test", created, "test");
    server_.resetStats();

    // git reads the commit written as raw bytes as the commit it is.
    const auto* mega = dynamic_cast<MegaObjectStore*>(store.get());
    ASSERT_NE(mega, nullptr);
    const std::string gitDir = mega->localRepositoryPath().string();
    EXPECT_EQ(test::git(dir_.path(), {"--git-dir", gitDir, "cat-file", "commit", created.hex()}),
              "tree " + commit.tree.hex() + "\nparent " + base.hex() +
                  "\nauthor A U Thor <author@example.invalid> 1700000000 -0130\n"
                  "committer A U Thor <author@example.invalid> 1700000000 -0130\n\nlocal\n");
    EXPECT_EQ(test::gitLine(dir_.path(), {"--git-dir", gitDir, "rev-parse", "refs/mega-fuse/test"}),
              created.hex());
    EXPECT_EQ(store->treeAtPath(created, ""), commit.tree);
    EXPECT_EQ(store->treeAtPath(created, "a"), idOf(repo_.dir, "main:a"));  // the server's
    EXPECT_EQ(store->commitTime(created), 1700000000);
    EXPECT_NE(store->readTree(commit.tree)->find("written.txt"), nullptr);
    EXPECT_TRUE(store->hasBlob(blob));
    EXPECT_EQ(store->blobSize(blob), 16U);
    EXPECT_EQ(readAll(store->openBlob(blob).get()), "written locally\n");
    EXPECT_TRUE(server_.stats().counts.empty());  // nothing written was asked of the server
    // The monorepo's root has no {path}.git to push to.
    EXPECT_EQ(codeOf([&] { store->push(created, "refs/heads/main", std::chrono::seconds(5)); }),
              StoreErrc::Unsupported);
}

TEST_F(MegaStoreTest, OnlyTheLatestCommitOrHeadResolves) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    EXPECT_EQ(store->resolveCommit(repo_.mainCommit).hex(), repo_.mainCommit);
    EXPECT_EQ(codeOf([&] { store->resolveCommit(repo_.olderCommit); }), StoreErrc::NotFound);
    EXPECT_EQ(codeOf([&] { store->resolveCommit("main"); }), StoreErrc::NotFound);
}

TEST_F(MegaStoreTest, IdenticalContentIsFetchedOnceEvenConcurrently) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId commit = store->resolveCommit("HEAD");
    auto tree = store->readTree(store->treeAtPath(commit, "a/b"));
    const ObjectId id = tree->find("two.txt")->id;
    std::vector<std::thread> readers;
    readers.reserve(8);
    for (int i = 0; i < 8; ++i) {
        readers.emplace_back([&] { EXPECT_TRUE(store->openBlob(id)); });
    }
    for (auto& t : readers) {
        t.join();
    }
    // Same id under two names ("empty" and "a/b/empty-in-b"): one download.
    auto root = store->readTree(store->treeAtPath(commit, ""));
    store->openBlob(root->find("empty")->id);
    store->openBlob(tree->find("empty-in-b")->id);
    // Another store of the same server path shares the content cache: no download at all.
    auto again = open(*registry);
    EXPECT_EQ(again, store);
    EXPECT_EQ(server_.stats().count("/api/v1/file/blob"), 2);
}

TEST_F(MegaStoreTest, PrefetchFetchesADirectorysMissingBlobsConcurrently) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    auto tree = store->readTree(store->treeAtPath(store->resolveCommit("HEAD"), "a/b"));
    std::vector<ObjectId> ids;
    std::set<ObjectId> distinct;
    for (const auto& e : tree->entries()) {
        if (e.isBlob()) {
            ids.push_back(e.id);
            distinct.insert(e.id);
        }
    }
    store->prefetchBlobs(ids);
    for (const auto& id : ids) {
        EXPECT_TRUE(store->hasBlob(id));
    }
    store->prefetchBlobs(ids);  // all local: no request
    EXPECT_EQ(server_.stats().count("/api/v1/file/blob"), static_cast<int>(distinct.size()));
}

TEST_F(MegaStoreTest, WrongBytesForAnIdAreCorruptAndNeverServed) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId commit = store->resolveCommit("HEAD");
    auto root = store->readTree(store->treeAtPath(commit, ""));
    const ObjectId readme = root->find("README.md")->id;
    const ObjectId aId = root->find("a")->id;
    server_.setFault(MegaStandIn::Fault::WrongBytes);
    EXPECT_EQ(codeOf([&] { store->openBlob(readme); }), StoreErrc::Corrupt);
    EXPECT_FALSE(store->hasBlob(readme));
    EXPECT_EQ(codeOf([&] { store->readTree(aId); }), StoreErrc::Corrupt);
    server_.setFault(MegaStandIn::Fault::None);
    UniqueFd fd = store->openBlob(readme);
    EXPECT_EQ(readAll(fd.get()), test::git(repo_.dir, {"cat-file", "blob", readme.hex()}));
    EXPECT_GE(store->stats().fetchFailures, 2U);
}

TEST_F(MegaStoreTest, GarbageTreesAndJsonAreCorrupt) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    server_.setFault(MegaStandIn::Fault::Garbage);
    EXPECT_EQ(codeOf([&] { store->resolveCommit("HEAD"); }), StoreErrc::Corrupt);
    EXPECT_EQ(codeOf([&] { static_cast<MegaObjectStore&>(*store).directoryHash("a"); }),
              StoreErrc::Corrupt);
    server_.setFault(MegaStandIn::Fault::None);
    const ObjectId commit = store->resolveCommit("HEAD");
    server_.setFault(MegaStandIn::Fault::Garbage);
    EXPECT_EQ(codeOf([&] { store->treeAtPath(commit, "a/b"); }), StoreErrc::Corrupt);
}

TEST_F(MegaStoreTest, MissingPathsAndBlobsAreNotFound) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId commit = store->resolveCommit("HEAD");
    EXPECT_EQ(codeOf([&] { store->treeAtPath(commit, "no/such/dir"); }), StoreErrc::NotFound);
    const ObjectId unknown = *ObjectId::fromHex("0123456789abcdef0123456789abcdef01234567");
    EXPECT_EQ(codeOf([&] { store->openBlob(unknown); }), StoreErrc::NotFound);
    EXPECT_EQ(codeOf([&] { store->blobSize(unknown); }), StoreErrc::NotFound);
    EXPECT_EQ(codeOf([&] { store->readTree(unknown); }), StoreErrc::NotFound);
    server_.setFault(MegaStandIn::Fault::NotFound);
    EXPECT_EQ(codeOf([&] { store->resolveCommit("HEAD"); }), StoreErrc::NotFound);
}

TEST_F(MegaStoreTest, AServerThatIsDownFailsFastAfterBoundedRetries) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    server_.stop();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(codeOf([&] { store->resolveCommit("HEAD"); }), StoreErrc::FetchFailed);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    server_.start();
    EXPECT_EQ(store->resolveCommit("HEAD").hex(), repo_.mainCommit);
}

TEST_F(MegaStoreTest, ServerErrorsAreRetriedAFewTimesOnly) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    server_.failNext(2);  // two 503s, then an answer: the third attempt succeeds
    EXPECT_EQ(store->resolveCommit("HEAD").hex(), repo_.mainCommit);
    EXPECT_EQ(server_.stats().count("/api/v1/latest-commit"), 3);
    server_.resetStats();
    server_.failNext(10);
    try {
        store->resolveCommit("HEAD");
        ADD_FAILURE() << "ten 503s in a row were not reported";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::FetchFailed);
        EXPECT_NE(std::string(e.what()).find("HTTP status 503"), std::string::npos) << e.what();
    }
    EXPECT_EQ(server_.stats().count("/api/v1/latest-commit"), 3);  // bounded: 3 attempts
    server_.failNext(0);
}

TEST_F(MegaStoreTest, ASlowServerTimesOutWithinTheFetchTimeout) {
    auto registry = makeRegistry(std::chrono::seconds(1));
    auto store = open(*registry);
    server_.setFault(MegaStandIn::Fault::Slow, 5);
    const auto start = std::chrono::steady_clock::now();
    try {
        store->resolveCommit("HEAD");
        ADD_FAILURE() << "a 5 s answer beat a 1 s timeout";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::Timeout) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
    server_.setFault(MegaStandIn::Fault::None);
}

TEST_F(MegaStoreTest, TheTokenIsSentAsABearerHeaderAndNeverShown) {
    server_.requireToken("s3cret-token");
    auto registry = makeRegistry();
    auto anonymous = open(*registry);
    EXPECT_EQ(codeOf([&] { anonymous->resolveCommit("HEAD"); }), StoreErrc::FetchFailed);
    const auto file = tokenFile("s3cret-token", 0600);
    auto store = open(*registry, "/", file);
    EXPECT_EQ(store->resolveCommit("HEAD").hex(), repo_.mainCommit);
    EXPECT_EQ(server_.stats().authorization.back(), "Bearer s3cret-token");
    EXPECT_EQ(store->describe().find("s3cret"), std::string::npos);
}

TEST_F(MegaStoreTest, ATokenFileReadableByOthersIsRefusedByName) {
    auto registry = makeRegistry();
    const auto file = tokenFile("s3cret-token", 0644);
    try {
        open(*registry, "/", file);
        ADD_FAILURE() << "a 0644 token file was accepted";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::BadSource);
        const std::string message = e.what();
        EXPECT_NE(message.find(file.string()), std::string::npos) << message;
        EXPECT_NE(message.find("0644"), std::string::npos) << message;
        EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    }
    EXPECT_EQ(codeOf([&] { open(*registry, "/", dir_ / "no-such-token"); }), StoreErrc::BadSource);
    EXPECT_EQ(server_.stats().counts.size(), 0U);  // refused before any request
}

TEST_F(MegaStoreTest, DirectoryHashChangesWhenSomethingBelowChanges) {
    auto registry = makeRegistry();
    auto held = open(*registry);
    auto& store = static_cast<MegaObjectStore&>(*held);
    EXPECT_EQ(store.directoryHash("a/b"), idOf(repo_.dir, "main:a/b"));
    EXPECT_EQ(store.directoryHash("README.md"), idOf(repo_.dir, "main:README.md"));
    EXPECT_EQ(store.directoryHash("a/nope"), std::nullopt);
    server_.setRef(repo_.olderCommit);
    EXPECT_EQ(store.directoryHash("a/b"), idOf(repo_.dir, repo_.olderCommit + ":a/b"));
    EXPECT_EQ(store.resolveCommit("HEAD").hex(), repo_.olderCommit);
}

TEST_F(MegaStoreTest, ChangedTreeAsksDirHashOnlyUntilThePathMoves) {
    auto registry = makeRegistry();
    auto store = open(*registry, "/a");
    const ObjectId shown = store->treeAtPath(store->resolveCommit("HEAD"), "");
    server_.resetStats();
    EXPECT_EQ(store->changedTree("", shown), std::nullopt);
    EXPECT_EQ(store->changedTree("b", idOf(repo_.dir, "main:a/b")), std::nullopt);
    auto stats = server_.stats();
    EXPECT_EQ(stats.count("/api/v1/tree/dir-hash"), 2);
    EXPECT_EQ(stats.counts.size(), 1U) << "nothing but dir-hash while nothing moved";

    server_.setRef(repo_.olderCommit);
    const auto moved = store->changedTree("", shown);
    ASSERT_TRUE(moved);
    EXPECT_EQ(*moved, idOf(repo_.dir, repo_.olderCommit + ":a"));
    // The new tree and its subdirectories are readable by id: their paths were recorded.
    const auto tree = store->readTree(*moved);
    ASSERT_NE(tree->find("b"), nullptr);
    EXPECT_EQ(store->readTree(tree->find("b")->id)->id(),
              idOf(repo_.dir, repo_.olderCommit + ":a/b"));
    EXPECT_EQ(store->resolveCommit("HEAD").hex(), repo_.olderCommit);
    EXPECT_EQ(store->changedTree("", *moved), std::nullopt);
}

TEST_F(MegaStoreTest, ChangedTreeOfTheMonorepoRootComparesTheLatestCommit) {
    auto registry = makeRegistry();
    auto store = open(*registry);
    const ObjectId shown = store->treeAtPath(store->resolveCommit("HEAD"), "");
    EXPECT_EQ(store->changedTree("", shown), std::nullopt);
    server_.setRef(repo_.olderCommit);
    EXPECT_EQ(store->changedTree("", shown), idOf(repo_.dir, repo_.olderCommit + "^{tree}"));
}

TEST_F(MegaStoreTest, ChangedTreeOfAPathThatWentAwayIsNotFound) {
    auto registry = makeRegistry();
    auto store = open(*registry, "/new");
    const ObjectId shown = store->treeAtPath(store->resolveCommit("HEAD"), "");
    server_.setRef(repo_.olderCommit);  // new/ was added on main, after olderCommit
    EXPECT_EQ(codeOf([&] { store->changedTree("", shown); }), StoreErrc::NotFound);
}

}  // namespace
}  // namespace megafuse::store
