// Log: the stderr sink with the pattern "[time] [level] message", or a journal sink writing
// native entries (sd_journal_sendv) when stderr is the journal.
#include "common/Log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

namespace megafuse {
namespace {

thread_local std::string tlsMount;
thread_local std::string tlsOperation;

int syslogPriority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return LOG_DEBUG;
        case spdlog::level::info:
            return LOG_INFO;
        case spdlog::level::warn:
            return LOG_WARNING;
        case spdlog::level::err:
            return LOG_ERR;
        case spdlog::level::critical:
            return LOG_CRIT;
        default:
            return LOG_INFO;
    }
}

// One native journal entry per line. Should the journal refuse it (journald restarting), the
// line goes to stderr, which is the journal's stream: nothing is lost but the fields.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        const std::string_view text(msg.payload.data(), msg.payload.size());
        const LogFields fields = currentLogFields(text);
        const std::string message = "MESSAGE=" + std::string(text);
        const std::string priority = "PRIORITY=" + std::to_string(syslogPriority(msg.level));
        const std::string mount = "MOUNT=" + fields.mount;
        const std::string operation = "OPERATION=" + fields.operation;
        static constexpr std::string_view kIdentifier = "SYSLOG_IDENTIFIER=mega-fused";

        std::array<iovec, 5> entry{};
        size_t count = 0;
        auto add = [&](std::string_view field) {
            entry[count++] = iovec{const_cast<char*>(field.data()), field.size()};
        };
        add(message);
        add(priority);
        add(kIdentifier);
        if (!fields.mount.empty()) {
            add(mount);
        }
        if (!fields.operation.empty()) {
            add(operation);
        }
        if (sd_journal_sendv(entry.data(), static_cast<int>(count)) < 0) {
            std::fprintf(stderr, "<%d>%s\n", syslogPriority(msg.level), message.c_str() + 8);
        }
    }
    void flush_() override {}
};

}  // namespace

bool journalIsStderr() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) {
        return false;
    }
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) {
        return false;
    }
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return st.st_dev == device && st.st_ino == inode;
}

LogScope::LogScope(std::string mount, std::string operation)
    : previousMount_(tlsMount), previousOperation_(tlsOperation) {
    if (!mount.empty()) {
        tlsMount = std::move(mount);
    }
    if (!operation.empty()) {
        tlsOperation = std::move(operation);
    }
}

LogScope::~LogScope() {
    tlsMount = std::move(previousMount_);
    tlsOperation = std::move(previousOperation_);
}

LogFields currentLogFields(std::string_view message) {
    LogFields fields{tlsMount, tlsOperation};
    if (fields.mount.empty()) {
        constexpr std::string_view kPhrase = "mount '";
        if (const size_t start = message.find(kPhrase); start != std::string_view::npos) {
            const size_t nameStart = start + kPhrase.size();
            if (const size_t end = message.find('\'', nameStart); end != std::string_view::npos) {
                fields.mount = std::string(message.substr(nameStart, end - nameStart));
            }
        }
    }
    return fields;
}

void initLogging(std::string_view level) {
    auto parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off") {
        throw std::invalid_argument("unknown log level '" + std::string(level) +
                                    "' (trace, debug, info, warn, error, off)");
    }
    std::shared_ptr<spdlog::logger> logger;
    if (journalIsStderr()) {
        logger = std::make_shared<spdlog::logger>("mega-fuse", std::make_shared<JournalSink>());
        spdlog::register_logger(logger);
    } else {
        logger = spdlog::stderr_logger_mt("mega-fuse");
        logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    }
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace megafuse
