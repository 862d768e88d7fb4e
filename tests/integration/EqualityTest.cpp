// EqualityTest: the mounted tree equals Git's own rendering of the revision (git archive) — names,
// types, exec bits, symlink targets, bytes, gitlinks — for every source kind, at branches, tags,
// commit ids and sub-paths.
#include <gtest/gtest.h>

#include <tuple>

#include "MountFixture.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

struct RevisionCase {
    const char* name;
    // The --rev argument (nullptr: none, the daemon's default HEAD) and its oracle revision.
    std::string (*revision)(const SampleRepo&);
    std::string (*oracle)(const SampleRepo&);
    const char* subPath;  // nullptr: no --path
};

// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest's customization point.
void PrintTo(const RevisionCase& revisionCase, std::ostream* out) {
    *out << revisionCase.name;
}

const RevisionCase kRevisionCases[] = {
    {"DefaultHead", nullptr, [](const SampleRepo&) { return std::string("main"); }, nullptr},
    {"Branch", [](const SampleRepo&) { return std::string("main"); }, nullptr, nullptr},
    {"OtherBranch", [](const SampleRepo&) { return std::string("feature"); }, nullptr, nullptr},
    {"LightweightTag", [](const SampleRepo&) { return std::string("v1.0"); }, nullptr, nullptr},
    {"AnnotatedTag", [](const SampleRepo&) { return std::string("v2.0"); }, nullptr, nullptr},
    {"OlderCommitId", [](const SampleRepo& r) { return r.olderCommit; }, nullptr, nullptr},
    {"ShortCommitId", [](const SampleRepo& r) { return r.featureCommit.substr(0, 12); }, nullptr,
     nullptr},
    {"SubPath", [](const SampleRepo&) { return std::string("main"); }, nullptr, "a/b"},
    {"SubPathAtOlderCommit", [](const SampleRepo& r) { return r.olderCommit; }, nullptr, "a/b/c"},
    {"SubPathWithOddName", [](const SampleRepo&) { return std::string("main"); }, nullptr,
     "with space"},
};

class EqualityTest : public MountFixture,
                     public ::testing::WithParamInterface<std::tuple<SourceKind, RevisionCase>> {};

TEST_P(EqualityTest, MountedTreeEqualsGitArchive) {
    const auto& [kind, revisionCase] = GetParam();
    ServedSource served(kind, repo_.dir, dir_ / "served");

    std::optional<std::string> revision;
    if (revisionCase.revision != nullptr) {
        revision = revisionCase.revision(repo_);
    }
    const std::string oracleRevision =
        revisionCase.oracle != nullptr ? revisionCase.oracle(repo_) : *revision;
    std::optional<std::string> subPath;
    if (revisionCase.subPath != nullptr) {
        subPath = revisionCase.subPath;
    }
    extractRevision(repo_.dir, oracleRevision, subPath.value_or(""), dir_ / "oracle");

    auto daemon = mount(request(served.source(), revision, subPath));
    auto differences = compareTrees(dir_ / "oracle", mountPoint());
    EXPECT_TRUE(differences.empty())
        << "mount of " << served.source() << " --rev " << revision.value_or("(none)") << " --path "
        << subPath.value_or("(none)") << " differs from git archive " << oracleRevision << ":\n"
        << joinDifferences(differences);
    // A second walk is served from kernel caches and the daemon's: it must still agree.
    differences = compareTrees(dir_ / "oracle", mountPoint());
    EXPECT_TRUE(differences.empty()) << "second walk:\n" << joinDifferences(differences);

    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
    EXPECT_TRUE(stopped.unmountedByDaemon);
}

INSTANTIATE_TEST_SUITE_P(
    AllSourcesAndRevisions, EqualityTest,
    ::testing::Combine(::testing::Values(SourceKind::LocalPath, SourceKind::FileUrl,
                                         SourceKind::GitDaemon, SourceKind::Http),
                       ::testing::ValuesIn(kRevisionCases)),
    [](const auto& param) {
        return std::string(toString(std::get<0>(param.param))) + "_" +
               std::get<1>(param.param).name;
    });

}  // namespace
}  // namespace megafuse::test
