// Log: stderr sink with the mount-friendly pattern "[time] [level] message".
#include "common/Log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <stdexcept>
#include <string>

namespace megafuse {

void initLogging(std::string_view level) {
    auto parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off") {
        throw std::invalid_argument("unknown log level '" + std::string(level) +
                                    "' (trace, debug, info, warn, error, off)");
    }
    auto logger = spdlog::stderr_logger_mt("mega-fuse");
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace megafuse
