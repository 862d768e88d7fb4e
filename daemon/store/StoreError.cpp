// StoreError: the one errno mapping and the names used in logs and D-Bus error details.
#include "store/StoreError.hpp"

#include <cerrno>

namespace megafuse::store {

int StoreError::toErrno() const {
    return code_ == StoreErrc::NotFound ? ENOENT : EIO;
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
    }
    return "Unknown";
}

}  // namespace megafuse::store
