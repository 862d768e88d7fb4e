// TreeNamesFuzz: hostile names in trees (".", "..", "/", NUL, 255-byte and longer names, invalid
// UTF-8) never reach a path outside the overlay or the content cache. The input is a raw tree
// object, written as-is into a local repository's object database (as a hostile repository or
// server would have it) and read back through GitObjectStore, the way a mount reads trees; the
// names it yields then go where a writable mount puts them: a materialized directory, new files
// and folders, renames and removals in the overlay, blobs in the content cache. Afterwards every
// file on disk must be inside the overlay's or the cache's folder, and no symlink may exist.
#include <git2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ContentCache.hpp"
#include "store/GitObjectFormat.hpp"
#include "store/ObjectStore.hpp"
#include "store/StoreError.hpp"

namespace {

using megafuse::fuzz::require;
namespace fs = std::filesystem;
namespace store = megafuse::store;
namespace overlay = megafuse::overlay;

bool isInside(const fs::path& path, const fs::path& dir) {
    const fs::path normal = path.lexically_normal();
    auto [d, p] = std::mismatch(dir.begin(), dir.end(), normal.begin(), normal.end());
    return d == dir.end();
}

struct Fixture {
    fs::path sandbox;
    fs::path repoDir;
    git_repository* repo = nullptr;  // the process's lifetime; written with raw objects
    std::unique_ptr<store::StoreRegistry> registry;
    std::shared_ptr<store::ObjectStore> trees;
    std::unique_ptr<overlay::OverlayStore> changes;
    std::unique_ptr<store::ContentCache> blobs;

    Fixture() {
        spdlog::set_level(spdlog::level::off);
        char pattern[] = "/tmp/megafuse-fuzz-names-XXXXXX";
        require(::mkdtemp(pattern) != nullptr, "a temp folder");
        sandbox = pattern;
        repoDir = sandbox / "repo.git";
        git_libgit2_init();
        require(git_repository_init(&repo, repoDir.c_str(), 1) == 0, "a bare repository");
        store::StoreOptions options;
        options.cacheDir = sandbox / "cache";
        registry = std::make_unique<store::StoreRegistry>(options);
        trees = registry->open(
            store::SourceSpec{store::SourceSpec::Kind::LocalRepository, repoDir.string()});
        changes = overlay::OverlayStore::open(sandbox / "overlay");
        // A budget of a few small blobs, so eviction runs and the folder stays small.
        blobs = std::make_unique<store::ContentCache>(sandbox / "blobs", 4096);
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;
    // libFuzzer ends with exit(), which destroys instance()'s fixture: the folder goes with it.
    // (An atexit handler registered in the constructor ran after this destructor and found the
    // path already destroyed: every run left its folder in /tmp.)
    ~Fixture() {
        blobs.reset();
        changes.reset();
        trees.reset();
        registry.reset();
        std::error_code ec;
        fs::remove_all(sandbox, ec);
    }

    static Fixture& instance() {
        static Fixture fixture;
        return fixture;
    }

    store::ObjectId writeRawTree(std::string_view bytes) {
        git_odb* odb = nullptr;
        require(git_repository_odb(&odb, repo) == 0, "the object database opens");
        git_oid oid;
        const int rc = git_odb_write(&oid, odb, bytes.data(), bytes.size(), GIT_OBJECT_TREE);
        git_odb_free(odb);
        require(rc == 0, "a raw tree is written");
        return store::hashTreeObject(bytes);
    }
};

overlay::NodeAttributes fileAttributes() {
    overlay::NodeAttributes a;
    a.type = overlay::NodeType::File;
    return a;
}

overlay::NodeAttributes directoryAttributes() {
    overlay::NodeAttributes a;
    a.type = overlay::NodeType::Directory;
    a.permissions = 0755;
    return a;
}

// Names go where a writable mount puts them. Overlay errors are answers (the FUSE handler sends
// their errno); anything else is a finding.
void applyToOverlay(overlay::OverlayStore& o, const std::vector<store::TreeEntry>& entries) {
    o.materializeRoot(entries, directoryAttributes());
    // The first few names get the full treatment; each starts a folder holding all the names.
    const std::ptrdiff_t handled = std::min<std::ptrdiff_t>(std::ssize(entries), 16);
    for (const auto& entry : std::vector(entries.begin(), entries.begin() + handled)) {
        try {
            o.transaction([&] {
                const overlay::NodeId dir = o.createNode(directoryAttributes(), entries);
                o.put(overlay::kRootNode, overlay::DirEntry::overlayNode(entry.name + ".d", dir));
                const overlay::NodeId file = o.createNode(fileAttributes());
                o.put(dir, overlay::DirEntry::overlayNode(entry.name, file));
                const fs::path content = o.contentPath(file);
                require(isInside(content, o.directory()),
                        "a content file is inside the overlay folder", content.native());
                const std::string line = entry.name + "\n";
                FILE* f = std::fopen(content.c_str(), "ae");
                require(f != nullptr, "a content file opens", content.native());
                (void)std::fwrite(line.data(), 1, line.size(), f);
                (void)std::fclose(f);
                o.rename(dir, entry.name, overlay::kRootNode, entry.name, 0);
            });
        } catch (const overlay::OverlayError&) {
        }
    }
    for (const auto& entry : entries) {
        try {
            (void)o.remove(overlay::kRootNode, entry.name);
        } catch (const overlay::OverlayError&) {
        }
    }
}

void applyToContentCache(store::ContentCache& cache, const std::vector<store::TreeEntry>& entries) {
    size_t written = 0;
    for (const auto& entry : entries) {
        if (written++ == 4) {
            break;
        }
        const fs::path path = cache.pathFor(entry.id);
        require(isInside(path, cache.dir()), "a cache file is inside the cache folder",
                path.native());
        (void)cache.open(
            entry.id, [](int, uint64_t, bool) { return true; },
            [&](const store::ContentCache::Sink& sink) {
                sink(entry.name.data(), entry.name.size());
            });
    }
}

void checkNothingEscaped(const Fixture& f) {
    const std::vector<fs::path> allowed = {f.repoDir, f.sandbox / "cache", f.sandbox / "overlay",
                                           f.sandbox / "blobs"};
    for (const auto& item : fs::recursive_directory_iterator(f.sandbox)) {
        require(!item.is_symlink(), "no symlink is ever created", item.path().native());
        bool inside = false;
        for (const auto& dir : allowed) {
            inside = inside || isInside(item.path(), dir);
        }
        require(inside, "every file is inside the overlay, the cache or the repository",
                item.path().native());
    }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point, named by libFuzzer.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = Fixture::instance();
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    std::shared_ptr<const store::Tree> tree;
    try {
        tree = f.trees->readTree(f.writeRawTree(bytes));
    } catch (const store::StoreError& e) {
        require(e.code() == store::StoreErrc::Corrupt || e.code() == store::StoreErrc::NotFound,
                "a tree libgit2 cannot read is StoreError(Corrupt)", e.what());
        return 0;
    }
    require(tree != nullptr, "a written tree reads back");
    for (const auto& entry : tree->entries()) {
        require(!entry.name.empty() && entry.name != "." && entry.name != ".." &&
                    entry.name.find('/') == std::string::npos &&
                    entry.name.find('\0') == std::string::npos,
                "a tree entry name from the store is one path component", entry.name);
    }
    try {
        applyToOverlay(*f.changes, tree->entries());
        applyToContentCache(*f.blobs, tree->entries());
    } catch (const std::exception& e) {
        require(false, "hostile names are refused with OverlayError or stored", e.what());
    }
    checkNothingEscaped(f);
    f.changes->clear();
    return 0;
}
