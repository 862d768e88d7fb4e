// Log: one spdlog logger for the daemon. Plain text on stderr; journald fields come with the
// systemd service work. Call initLogging() once in main; tests get a default logger.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace megafuse {

// level: trace|debug|info|warn|error|off. Throws std::invalid_argument on an unknown level.
void initLogging(std::string_view level);

}  // namespace megafuse
