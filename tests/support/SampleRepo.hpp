// SampleRepo: the repository most mount tests use — every entry kind Git has, odd names, several
// revisions; non-empty files have unique bytes, so a blob id names one path (laziness tests count).
#pragma once

#include <filesystem>
#include <string>

namespace megafuse::test {

struct SampleRepo {
    // Revisions, as the daemon is asked for them:
    static constexpr const char* kMainBranch = "main";        // tip: mainCommit
    static constexpr const char* kFeatureBranch = "feature";  // tip: featureCommit
    static constexpr const char* kLightweightTag = "v1.0";    // -> olderCommit
    static constexpr const char* kAnnotatedTag = "v2.0";      // tag object -> featureCommit
    // A directory with several files, an executable, a symlink and a subdirectory.
    static constexpr const char* kSubPath = "a/b";
    static constexpr const char* kFileInSubPath = "a/b/one.txt";
    // The gitlink's target: a commit that exists nowhere (as for an uninitialized submodule).
    static constexpr const char* kGitlinkTarget = "0123456789abcdef0123456789abcdef01234567";

    std::filesystem::path dir;  // a non-bare repository (empty work tree), HEAD -> main
    std::string olderCommit;    // main's first commit
    std::string mainCommit;     // main's second commit: edits, deletes, adds, mode changes
    std::string featureCommit;  // branch from olderCommit

    // Builds the repository at dir (which must not exist or be empty). Deterministic ids.
    static SampleRepo build(const std::filesystem::path& dir);
};

}  // namespace megafuse::test
