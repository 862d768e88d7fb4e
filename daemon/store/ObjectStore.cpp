// ObjectStore: the write side's defaults — a store that only reads says so by name.
#include "store/ObjectStore.hpp"

namespace megafuse::store {
namespace {

[[noreturn]] void unsupported(const ObjectStore& store, const char* what) {
    throw StoreError(StoreErrc::Unsupported, store.describe() + " cannot " + what);
}

}  // namespace

std::optional<ObjectId> ObjectStore::changedTree(std::string_view /*subPath*/,
                                                 const ObjectId& /*shown*/) {
    unsupported(*this, "tell whether its tree moved upstream");
}

ObjectId ObjectStore::writeBlob(std::string_view /*bytes*/) {
    unsupported(*this, "write objects");
}

ObjectId ObjectStore::writeBlobFromFile(const std::filesystem::path& /*file*/) {
    unsupported(*this, "write objects");
}

ObjectId ObjectStore::writeTree(const std::vector<TreeEntry>& /*entries*/) {
    unsupported(*this, "write objects");
}

ObjectId ObjectStore::writeCommit(const NewCommit& /*commit*/) {
    unsupported(*this, "write objects");
}

void ObjectStore::updateRef(const std::string& /*ref*/, const ObjectId& /*commit*/,
                            const std::string& /*logMessage*/) {
    unsupported(*this, "update refs");
}

PushOutcome ObjectStore::push(const ObjectId& /*commit*/, const std::string& /*remoteRef*/,
                              std::chrono::milliseconds /*timeout*/) {
    unsupported(*this, "push");
}

std::optional<GitSignature> ObjectStore::configuredIdentity() {
    return std::nullopt;
}

}  // namespace megafuse::store
