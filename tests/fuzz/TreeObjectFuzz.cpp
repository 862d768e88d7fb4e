// TreeObjectFuzz: raw Git tree objects as a server sends them (Mega's file/tree answer) →
// parseTreeObject, the one Git object decoder the project has of its own (commits, packs and
// pkt-lines are read by libgit2 and git itself). Every input either decodes or throws
// StoreError(Corrupt); what decodes holds only names that are one path component, and encoding
// the entries again gives the same entries back.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "FuzzCheck.hpp"
#include "store/GitObjectFormat.hpp"
#include "store/StoreError.hpp"
#include "store/Tree.hpp"

namespace {

using megafuse::fuzz::require;
namespace store = megafuse::store;

std::string encode(const std::vector<store::TreeEntry>& entries) {
    std::string bytes;
    for (const auto& entry : entries) {
        char mode[16];
        (void)std::snprintf(mode, sizeof mode, "%o ", store::gitModeOf(entry.kind));
        bytes += mode;
        bytes += entry.name;
        bytes += '\0';
        bytes.append(reinterpret_cast<const char*>(entry.id.raw().data()), entry.id.raw().size());
    }
    return bytes;
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point, named by libFuzzer.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    std::vector<store::TreeEntry> entries;
    size_t skipped = 0;
    try {
        entries = store::parseTreeObject(bytes, "fuzz tree", &skipped);
    } catch (const store::StoreError& e) {
        require(e.code() == store::StoreErrc::Corrupt, "a bad tree is StoreError(Corrupt)",
                e.what());
        return 0;
    } catch (const std::exception& e) {
        require(false, "parseTreeObject throws StoreError only", e.what());
    }
    for (const auto& entry : entries) {
        require(!entry.name.empty() && entry.name != "." && entry.name != ".." &&
                    entry.name.find('/') == std::string::npos &&
                    entry.name.find('\0') == std::string::npos,
                "a decoded name is one path component", entry.name);
    }
    const std::string again = encode(entries);
    const auto reparsed = store::parseTreeObject(again, "re-encoded fuzz tree");
    require(reparsed.size() == entries.size(), "re-encoding keeps every entry");
    for (size_t i = 0; i < entries.size(); ++i) {
        require(reparsed[i].name == entries[i].name && reparsed[i].id == entries[i].id &&
                    reparsed[i].kind == entries[i].kind,
                "re-encoding gives the same entry", entries[i].name);
    }
    // What the filesystem does with it: bisecting finds every name it holds.
    const store::Tree tree(store::hashTreeObject(bytes), std::move(entries));
    for (const auto& entry : tree.entries()) {
        const store::TreeEntry* found = tree.find(entry.name);
        require(found != nullptr && found->name == entry.name, "Tree::find finds every entry",
                entry.name);
    }
    return 0;
}
