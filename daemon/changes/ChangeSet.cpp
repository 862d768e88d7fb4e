// PLACEHOLDER until the change-set helper lands the implementation.
#include "changes/ChangeSet.hpp"

namespace megafuse::changes {

struct ChangeSet::Impl {
    std::shared_ptr<store::ObjectStore> store;
};

ChangeSet::ChangeSet(std::shared_ptr<store::ObjectStore> store, overlay::OverlayStore&,
                     overlay::LiveView&, ChangeSetOptions)
    : impl_(std::make_unique<Impl>(Impl{std::move(store)})) {}
ChangeSet::~ChangeSet() = default;

std::vector<Change> ChangeSet::changes(const std::vector<std::string>&) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
std::string ChangeSet::diff(const std::vector<std::string>&) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
size_t ChangeSet::reset(const std::vector<std::string>&) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
store::ObjectId ChangeSet::commit(const CommitRequest&) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
PushResult ChangeSet::push(const std::string&) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
store::ObjectId ChangeSet::checkout(const std::string&, bool) {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}
store::ObjectId ChangeSet::baseCommit() const {
    throw ChangeSetError(ChangeSetErrc::Failed, "not implemented yet");
}

}  // namespace megafuse::changes
