// ErrorMapping: ManagerErrc → D-Bus error name (see the header).
#include "dbus/ErrorMapping.hpp"

#include "dbus/BusText.hpp"

namespace megafuse::dbus {

std::string dbusErrorName(manager::ManagerErrc code) {
    if (code == manager::ManagerErrc::InvalidArgs) {
        return kInvalidArgs;
    }
    return std::string(kErrorPrefix) + manager::toString(code);
}

sdbus::Error toDbusError(const manager::ManagerError& error) {
    // Messages quote paths from trees and overlays, which may be any bytes.
    return {dbusErrorName(error.code()), escapeNonUtf8(error.what())};
}

}  // namespace megafuse::dbus
