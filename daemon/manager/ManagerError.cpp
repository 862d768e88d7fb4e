// ManagerError: names of the error codes, for logs.
#include "manager/ManagerError.hpp"

namespace megafuse::manager {

const char* toString(ManagerErrc code) {
    switch (code) {
        case ManagerErrc::NotFound:
            return "NotFound";
        case ManagerErrc::AlreadyMounted:
            return "AlreadyMounted";
        case ManagerErrc::NotMounted:
            return "NotMounted";
        case ManagerErrc::Busy:
            return "Busy";
        case ManagerErrc::InvalidArgs:
            return "InvalidArgs";
        case ManagerErrc::InvalidConfig:
            return "InvalidConfig";
        case ManagerErrc::MountFailed:
            return "MountFailed";
        case ManagerErrc::Timeout:
            return "Timeout";
        case ManagerErrc::NotWritable:
            return "NotWritable";
        case ManagerErrc::Conflict:
            return "Conflict";
        case ManagerErrc::NothingToCommit:
            return "NothingToCommit";
        case ManagerErrc::PushRejected:
            return "PushRejected";
        case ManagerErrc::Failed:
            return "Failed";
    }
    return "Unknown";
}

}  // namespace megafuse::manager
