// ObjectPaths: mount names → object paths with sd-bus's own escaping, so every client that
// decodes with sd_bus_path_decode gets the name back.
#include "dbus/ObjectPaths.hpp"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace megafuse::dbus {

std::string mountObjectPath(const std::string& name) {
    char* raw = nullptr;
    int rc = sd_bus_path_encode(kMountsPrefix, name.c_str(), &raw);
    std::unique_ptr<char, decltype(&std::free)> owned(raw, &std::free);
    if (rc < 0 || raw == nullptr) {
        throw std::runtime_error("cannot encode object path for mount '" + name + "'");
    }
    return {owned.get()};
}

}  // namespace megafuse::dbus
