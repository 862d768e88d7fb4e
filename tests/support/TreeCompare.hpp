// TreeCompare: Git itself is the oracle. A revision is extracted with `git archive` and compared
// with the mounted tree entry by entry; the result lists every difference so a failing test says
// what differs, not just that something does.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace megafuse::test {

// Extracts `git archive <revision>[:<subPath>]` of repo into dest (created). Gitlinks come out
// as empty directories, executables with their x bits, symlinks with their exact targets.
void extractRevision(const std::filesystem::path& repo, const std::string& revision,
                     const std::string& subPath, const std::filesystem::path& dest);

// Compares two trees without following symlinks: the same names (any bytes), the same types,
// the owner exec bit of files, symlink targets, sizes and bytes. One line per difference, at most
// maxDifferences (then a final "..." line); empty means equal.
std::vector<std::string> compareTrees(const std::filesystem::path& expected,
                                      const std::filesystem::path& actual,
                                      size_t maxDifferences = 50);

// The same comparison for two single entries (e.g. one large file against its source).
std::vector<std::string> compareEntries(const std::filesystem::path& expected,
                                        const std::filesystem::path& actual);

// The differences as one block for a failure message.
std::string joinDifferences(const std::vector<std::string>& differences);

}  // namespace megafuse::test
