// TempDir: a private folder per test that removes itself in every outcome. A test that died with
// a mount inside would make removal recurse into it, so the destructor unmounts what lies below.
#pragma once

#include <filesystem>
#include <string_view>

namespace megafuse::test {

class TempDir {
public:
    // Creates $TMPDIR/<prefix>-XXXXXX (TMPDIR defaults to /tmp); throws HarnessError on failure.
    explicit TempDir(std::string_view prefix = "megafuse-it");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& child) const {
        return path_ / child;
    }

    // Creates path()/relative (and parents) and returns it.
    std::filesystem::path makeDir(const std::filesystem::path& relative);

private:
    std::filesystem::path path_;
};

}  // namespace megafuse::test
