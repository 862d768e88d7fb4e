// StoreError: the one errno mapping and the names used in logs and D-Bus error details.
#include "store/StoreError.hpp"

#include <cerrno>

namespace megafuse::store {

int StoreError::toErrno() const {
    switch (code_) {
        case StoreErrc::NotFound:
            return ENOENT;
        case StoreErrc::Unsupported:
            return ENOTSUP;
        default:
            return EIO;
    }
}

const char* toString(StoreErrc code) {
    switch (code) {
        case StoreErrc::NotFound:
            return "NotFound";
        case StoreErrc::BadSource:
            return "BadSource";
        case StoreErrc::FetchFailed:
            return "FetchFailed";
        case StoreErrc::Timeout:
            return "Timeout";
        case StoreErrc::Corrupt:
            return "Corrupt";
        case StoreErrc::Io:
            return "Io";
        case StoreErrc::Unsupported:
            return "Unsupported";
        case StoreErrc::PushRejected:
            return "PushRejected";
    }
    return "Unknown";
}

}  // namespace megafuse::store
