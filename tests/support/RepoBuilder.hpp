// RepoBuilder: writes Git repositories entry by entry through plumbing (hash-object, update-index,
// commit-tree), so any entry kind and any name bytes but '/' and NUL can be made — symlinks,
// gitlinks, "new\nline" — without a work tree that could not hold them.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace megafuse::test {

class RepoBuilder {
public:
    // `git init` at dir on branch main. The index is the staging area; the work tree stays empty.
    explicit RepoBuilder(std::filesystem::path dir);

    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

    // Stages a regular (or executable) file with these bytes; returns the blob id.
    std::string writeFile(const std::string& path, std::string_view bytes, bool executable = false);
    // Same, with the bytes taken from a file on disk (for contents too large to pass around).
    std::string writeFileFrom(const std::string& path, const std::filesystem::path& source,
                              bool executable = false);
    // Stages a symlink whose target is exactly these bytes (relative, absolute, dangling...).
    std::string symlink(const std::string& path, std::string_view target);
    // Stages a gitlink (submodule entry, mode 160000) pointing at a commit id.
    void gitlink(const std::string& path, const std::string& commitId);
    // Unstages a file, symlink or gitlink, or a whole directory.
    void remove(const std::string& path);

    // Commits the index on the current branch (deterministic date: one minute per commit).
    std::string commit(const std::string& message);

    // Creates branch name at startPoint, without switching.
    void branch(const std::string& name, const std::string& startPoint);
    // Makes name the current branch and loads its tree into the index.
    void switchTo(const std::string& name);
    void lightweightTag(const std::string& name, const std::string& target);
    void annotatedTag(const std::string& name, const std::string& target,
                      const std::string& message);

    [[nodiscard]] std::string revParse(const std::string& revision) const;

private:
    std::string stage(const std::string& mode, const std::string& id, const std::string& path);

    std::filesystem::path dir_;
    int commits_ = 0;
};

}  // namespace megafuse::test
