// ChangeSetFixture: the overlay edits are what WritableFilesystem does on the same calls —
// materialize the directories on the way, create nodes, move entries.
#include "ChangeSetFixture.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "changes/CommitBuilder.hpp"
#include "support/Git.hpp"

namespace megafuse::test {

using overlay::DirEntry;
using overlay::NodeAttributes;
using overlay::NodeType;
using store::EntryKind;

std::string readFile(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeBytes(const std::filesystem::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
}

void waitUntilStill(const std::filesystem::path& file, std::chrono::nanoseconds window) {
    while (true) {
        struct stat st {};
        ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
        timespec now{};
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
        const auto age = std::chrono::seconds(now.tv_sec - st.st_ctim.tv_sec) +
                         std::chrono::nanoseconds(now.tv_nsec - st.st_ctim.tv_nsec);
        if (age > window) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

timespec mtimeOf(const std::filesystem::path& file) {
    struct stat st {};
    EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
    return st.st_mtim;
}

void setMtime(const std::filesystem::path& file, const timespec& mtime) {
    const timespec times[2] = {timespec{0, UTIME_OMIT}, mtime};
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0) << file;
}

void ChangeSetFixture::SetUp() {
    temp_ = std::make_unique<TempDir>("changes-unit");
    std::filesystem::create_directories(repo());
    git(repo(), {"init", "-q", "-b", "main"});
    writeBytes(repo() / "README.md", "hello\nworld\n");
    writeBytes(repo() / "keep.txt", "unchanged\n");
    std::filesystem::create_directories(repo() / "src/lib");
    writeBytes(repo() / "src/main.c", "int main(void) {\n    return 0;\n}\n");
    writeBytes(repo() / "src/lib/util.c", "int util(void) { return 1; }\n");
    writeBytes(repo() / "src/lib/other.c", "int other(void) { return 2; }\n");
    std::filesystem::create_directories(repo() / "docs");
    writeBytes(repo() / "docs/guide.md", "# Guide\n\nRead me.\n");
    writeBytes(repo() / "run.sh", "#!/bin/sh\necho run\n");
    ::chmod((repo() / "run.sh").c_str(), 0755);
    std::filesystem::create_symlink("README.md", repo() / "link");
    git(repo(), {"add", "-A"});
    git(repo(), {"commit", "-q", "-m", "base"});
    baseCommit_ = gitLine(repo(), {"rev-parse", "HEAD"});
    git(temp_->path(), {"clone", "-q", repo().string(), checkout().string()});

    store::StoreOptions options;
    options.cacheDir = temp_->path() / "cache";
    registry_ = std::make_unique<store::StoreRegistry>(options);
    store_ = registry_->open(
        store::SourceSpec{store::SourceSpec::Kind::LocalRepository, repo().string()});
    overlay_ = overlay::OverlayStore::open(temp_->path() / "overlay");
    overlay_->setBaseCommit(*store::ObjectId::fromHex(baseCommit_));
    makeChangeSet();
}

void ChangeSetFixture::TearDown() {
    changes_.reset();
    overlay_.reset();
    store_.reset();
    registry_.reset();
    temp_.reset();
}

void ChangeSetFixture::makeChangeSet(changes::ChangeSetOptions options) {
    if (options.mountName.empty()) {
        options.mountName = "test";
    }
    if (options.revision.empty()) {
        options.revision = "main";
    }
    subPath_ = options.subPath;
    changes_ = std::make_unique<changes::ChangeSet>(store_, *overlay_, view_, options);
}

store::ObjectId ChangeSetFixture::baseRoot() {
    return store_->treeAtPath(*overlay_->baseCommit(), subPath_);
}

overlay::NodeId ChangeSetFixture::directoryFor(const std::vector<std::string>& parts,
                                               size_t count) {
    if (overlay_->empty()) {
        overlay_->materializeRoot(store_->readTree(baseRoot())->entries(),
                                  overlay::attributesOfBaseKind(EntryKind::Directory));
    }
    overlay::NodeId dir = overlay::kRootNode;
    for (size_t i = 0; i < count; ++i) {
        auto entry = overlay_->find(dir, parts[i]);
        if (entry && !entry->isBase()) {
            dir = entry->node;
            continue;
        }
        std::vector<store::TreeEntry> entries;
        if (entry && entry->baseKind == EntryKind::Directory) {
            entries = store_->readTree(entry->baseId)->entries();
        }
        overlay::NodeId node = 0;
        overlay_->transaction([&] {
            node =
                overlay_->createNode(overlay::attributesOfBaseKind(EntryKind::Directory), entries);
            overlay_->put(dir, DirEntry::overlayNode(parts[i], node));
        });
        dir = node;
    }
    return dir;
}

overlay::NodeId ChangeSetFixture::newFileNode(mode_t permissions) {
    NodeAttributes attributes;
    attributes.type = NodeType::File;
    attributes.permissions = permissions;
    return overlay_->createNode(attributes);
}

void ChangeSetFixture::writeFile(const std::string& path, const std::string& bytes,
                                 bool executable) {
    const auto parts = changes::splitPath(path);
    const overlay::NodeId dir = directoryFor(parts, parts.size() - 1);
    auto entry = overlay_->find(dir, parts.back());
    overlay::NodeId node = 0;
    if (entry && !entry->isBase() && overlay_->attributes(entry->node).type == NodeType::File) {
        node = entry->node;
        auto attributes = overlay_->attributes(node);
        attributes.permissions = executable ? 0755 : 0644;
        overlay_->setAttributes(node, attributes);
    } else {
        overlay_->transaction([&] {
            node = newFileNode(executable ? 0755 : 0644);
            overlay_->put(dir, DirEntry::overlayNode(parts.back(), node));
        });
    }
    writeBytes(overlay_->contentPath(node), bytes);

    const auto file = checkout() / subPath_ / path;
    std::filesystem::create_directories(file.parent_path());
    writeBytes(file, bytes);
    ::chmod(file.c_str(), executable ? 0755 : 0644);
}

void ChangeSetFixture::remove(const std::string& path) {
    const auto parts = changes::splitPath(path);
    const overlay::NodeId dir = directoryFor(parts, parts.size() - 1);
    ASSERT_TRUE(overlay_->remove(dir, parts.back())) << path;
    std::filesystem::remove_all(checkout() / subPath_ / path);
}

void ChangeSetFixture::rename(const std::string& from, const std::string& to) {
    const auto fromParts = changes::splitPath(from);
    const auto toParts = changes::splitPath(to);
    const overlay::NodeId fromDir = directoryFor(fromParts, fromParts.size() - 1);
    const overlay::NodeId toDir = directoryFor(toParts, toParts.size() - 1);
    overlay_->rename(fromDir, fromParts.back(), toDir, toParts.back(), 0);
    std::filesystem::create_directories((checkout() / subPath_ / to).parent_path());
    std::filesystem::rename(checkout() / subPath_ / from, checkout() / subPath_ / to);
}

void ChangeSetFixture::makeDirectory(const std::string& path) {
    const auto parts = changes::splitPath(path);
    directoryFor(parts, parts.size());
    std::filesystem::create_directories(checkout() / subPath_ / path);
}

void ChangeSetFixture::symlink(const std::string& path, const std::string& target) {
    const auto parts = changes::splitPath(path);
    const overlay::NodeId dir = directoryFor(parts, parts.size() - 1);
    NodeAttributes attributes;
    attributes.type = NodeType::Symlink;
    attributes.permissions = 0777;
    attributes.symlinkTarget = target;
    overlay_->transaction([&] {
        const overlay::NodeId node = overlay_->createNode(attributes);
        overlay_->put(dir, DirEntry::overlayNode(parts.back(), node));
    });
    std::filesystem::create_symlink(target, checkout() / subPath_ / path);
}

void ChangeSetFixture::chmod(const std::string& path, bool executable) {
    const auto parts = changes::splitPath(path);
    const overlay::NodeId dir = directoryFor(parts, parts.size() - 1);
    auto entry = overlay_->find(dir, parts.back());
    ASSERT_TRUE(entry) << path;
    if (entry->isBase()) {  // copy up, as a write-open or chmod of a base file does
        const std::string bytes = store_->readBlob(entry->baseId, 1U << 20U);
        overlay_->transaction([&] {
            const overlay::NodeId node = newFileNode(executable ? 0755 : 0644);
            overlay_->put(dir, DirEntry::overlayNode(parts.back(), node));
            writeBytes(overlay_->contentPath(node), bytes);
        });
    } else {
        auto attributes = overlay_->attributes(entry->node);
        attributes.permissions = executable ? 0755 : 0644;
        overlay_->setAttributes(entry->node, attributes);
    }
    ::chmod((checkout() / subPath_ / path).c_str(), executable ? 0755 : 0644);
}

std::filesystem::path ChangeSetFixture::contentPathOf(const std::string& path) {
    const auto parts = changes::splitPath(path);
    const overlay::NodeId dir = directoryFor(parts, parts.size() - 1);
    const auto entry = overlay_->find(dir, parts.back());
    EXPECT_TRUE(entry && !entry->isBase()) << path << " is no overlay file";
    return overlay_->contentPath(entry ? entry->node : 0);
}

std::string ChangeSetFixture::gitStatus() {
    git(checkout(), {"add", "-A"});
    return git(checkout(),
               {"-c", "core.quotePath=false", "status", "--porcelain", "--untracked-files=all"});
}

std::string ChangeSetFixture::ourStatus(const std::vector<std::string>& paths) {
    std::string out;
    const std::string prefix = subPath_.empty() ? "" : subPath_ + "/";
    for (const auto& change : changes_->changes(paths)) {
        out += changes::statusLetter(change.kind);
        out += "  ";
        if (change.kind == changes::Change::Kind::Renamed) {
            out += prefix + change.oldPath + " -> ";
        }
        out += prefix + change.path + "\n";
    }
    return out;
}

std::string ChangeSetFixture::gitTree(const std::string& subPath) {
    git(checkout(), {"add", "-A"});
    std::string tree = gitLine(checkout(), {"write-tree"});
    if (subPath.empty()) {
        return tree;
    }
    return gitLine(checkout(), {"rev-parse", tree + ":" + subPath});
}

}  // namespace megafuse::test
