// ChangeSetFixture: a ChangeSet over the real OverlayStore and a real Git repository, plus the
// oracle — a real checkout of the same base where every edit is made too, so a test compares
// what the ChangeSet says with what git says about the same work tree.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "changes/ChangeSet.hpp"
#include "overlay/LiveView.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {

// The LiveView of a filesystem that is not there: one mutex, nothing cached to invalidate.
class FakeLiveView final : public overlay::LiveView {
public:
    void mutateExclusively(const std::function<void()>& fn) override {
        std::lock_guard lock(mutex_);
        ++mutations;
        fn();
    }
    void readConsistently(const std::function<void()>& fn) override {
        std::lock_guard lock(mutex_);
        fn();
    }
    int mutations = 0;

private:
    std::mutex mutex_;
};

class ChangeSetFixture : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // (Re)creates the ChangeSet with these options (mountName "test", revision "main" unless
    // set), on the overlay and store of the fixture.
    void makeChangeSet(changes::ChangeSetOptions options = {});

    // Edits, made both in the overlay (as the writable filesystem would) and in the checkout.
    void writeFile(const std::string& path, const std::string& bytes, bool executable = false);
    void remove(const std::string& path);  // a file, symlink or whole directory
    void rename(const std::string& from, const std::string& to);
    void makeDirectory(const std::string& path);
    void symlink(const std::string& path, const std::string& target);
    void chmod(const std::string& path, bool executable);

    // The overlay content file of a file written by writeFile (its bytes as the overlay has them).
    std::filesystem::path contentPathOf(const std::string& path);

    // `git add -A && git status --porcelain` in the checkout.
    std::string gitStatus();
    // The ChangeSet's changes in the same format.
    std::string ourStatus(const std::vector<std::string>& paths = {});
    // `git add -A && git write-tree` in the checkout: the tree a commit must have.
    std::string gitTree(const std::string& subPath = "");

    [[nodiscard]] std::filesystem::path repo() const { return temp_->path() / "repo"; }
    [[nodiscard]] std::filesystem::path checkout() const { return temp_->path() / "checkout"; }

    std::unique_ptr<TempDir> temp_;
    std::string baseCommit_;
    std::shared_ptr<store::ObjectStore> store_;
    std::unique_ptr<store::StoreRegistry> registry_;
    std::unique_ptr<overlay::OverlayStore> overlay_;
    FakeLiveView view_;
    std::unique_ptr<changes::ChangeSet> changes_;
    std::string subPath_;  // the mount's sub-path; edits are relative to it

private:
    overlay::NodeId directoryFor(const std::vector<std::string>& parts, size_t count);
    overlay::NodeId newFileNode(mode_t permissions);
    store::ObjectId baseRoot();
};

std::string readFile(const std::filesystem::path& file);
void writeBytes(const std::filesystem::path& file, const std::string& bytes);

// Waits (a few ms, or window plus the coarse clock's tick) until file's ctime is more than window
// older than the clock file timestamps come from: a hash of it taken from now on may be cached.
void waitUntilStill(const std::filesystem::path& file, std::chrono::nanoseconds window);
// The file's mtime, and setting it back exactly (to the nanosecond; ctime moves regardless).
timespec mtimeOf(const std::filesystem::path& file);
void setMtime(const std::filesystem::path& file, const timespec& mtime);

}  // namespace megafuse::test
