// SourceSpec, StoreError and credential redaction: what a user types becomes a source or a
// clear error, and errors map to errno in one place.
#include <gtest/gtest.h>

#include <cerrno>

#include "StoreTestSupport.hpp"
#include "store/GitCli.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {
namespace {

using test::TempDir;

StoreError parseError(const std::string& text) {
    try {
        SourceSpec::parse(text);
    } catch (const StoreError& e) {
        return e;
    }
    ADD_FAILURE() << "parse('" << text << "') did not throw";
    return {StoreErrc::Io, ""};
}

TEST(SourceSpec, RemoteUrls) {
    for (const std::string url : {"file:///srv/repo.git", "git://127.0.0.1:9418/repo",
                                  "http://host/repo.git", "https://user:pw@host/x/y.git"}) {
        auto spec = SourceSpec::parse(url);
        EXPECT_EQ(spec.kind, SourceSpec::Kind::GitRemote) << url;
        EXPECT_EQ(spec.location, url);
    }
}

TEST(SourceSpec, LocalRepositoryRelativePathBecomesAbsolute) {
    TempDir dir;
    test::git(dir.path(), {"init", "--quiet", "repo"});
    test::git(dir.path(), {"init", "--quiet", "--bare", "bare.git"});
    auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    auto spec = SourceSpec::parse("repo/");
    auto bare = SourceSpec::parse("./bare.git");
    std::filesystem::current_path(cwd);
    EXPECT_EQ(spec.kind, SourceSpec::Kind::LocalRepository);
    EXPECT_EQ(spec.location, (dir.path() / "repo").string());
    EXPECT_EQ(bare.kind, SourceSpec::Kind::LocalRepository);
    EXPECT_EQ(bare.location, (dir.path() / "bare.git").string());
}

TEST(SourceSpec, RejectsWhatIsNotASource) {
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "plain");
    EXPECT_EQ(parseError((dir.path() / "plain").string()).code(), StoreErrc::BadSource);
    EXPECT_NE(std::string(parseError((dir.path() / "plain").string()).what())
                  .find("not a Git repository"),
              std::string::npos);
    EXPECT_EQ(parseError((dir.path() / "missing").string()).code(), StoreErrc::BadSource);
    EXPECT_EQ(parseError("").code(), StoreErrc::BadSource);
    EXPECT_EQ(parseError("git://").code(), StoreErrc::BadSource);
    EXPECT_NE(std::string(parseError("ssh://host/repo").what()).find("unsupported URL scheme"),
              std::string::npos);
    EXPECT_EQ(parseError("git@github.com:org/repo.git").code(), StoreErrc::BadSource);
}

TEST(SourceSpec, ErrorsNeverShowCredentials) {
    std::string message = parseError("ftp://alice:s3cret@host/repo").what();
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_NE(message.find("ftp://***@host/repo"), std::string::npos) << message;
}

TEST(RedactCredentials, RedactsEveryUrlInText) {
    EXPECT_EQ(redactCredentials("fatal: unable to access 'https://u:p@h/r.git/': 403"),
              "fatal: unable to access 'https://***@h/r.git/': 403");
    EXPECT_EQ(redactCredentials("a http://h/x and git://t@h2:1/y"),
              "a http://h/x and git://***@h2:1/y");
    EXPECT_EQ(redactCredentials("no url at all"), "no url at all");
    EXPECT_EQ(redactCredentials("https://user:pw@host"), "https://***@host");
}

TEST(StoreError, MapsToErrnoAndNames) {
    EXPECT_EQ(StoreError(StoreErrc::NotFound, "x").toErrno(), ENOENT);
    for (auto code : {StoreErrc::BadSource, StoreErrc::FetchFailed, StoreErrc::Timeout,
                      StoreErrc::Corrupt, StoreErrc::Io}) {
        EXPECT_EQ(StoreError(code, "x").toErrno(), EIO) << toString(code);
    }
    EXPECT_STREQ(toString(StoreErrc::Timeout), "Timeout");
    EXPECT_STREQ(toString(StoreErrc::NotFound), "NotFound");
}

}  // namespace
}  // namespace megafuse::store
