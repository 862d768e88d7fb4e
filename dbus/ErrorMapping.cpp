// ErrorMapping: ManagerErrc → D-Bus error name (see the header).
#include "dbus/ErrorMapping.hpp"

namespace megafuse::dbus {

std::string dbusErrorName(manager::ManagerErrc code) {
    if (code == manager::ManagerErrc::InvalidArgs) {
        return kInvalidArgs;
    }
    return std::string(kErrorPrefix) + manager::toString(code);
}

sdbus::Error toDbusError(const manager::ManagerError& error) {
    return sdbus::Error(dbusErrorName(error.code()), error.what());
}

}  // namespace megafuse::dbus
