// Log: one spdlog logger for the daemon. Plain text on stderr; when stderr is systemd's journal
// stream (JOURNAL_STREAM), native journal entries with PRIORITY= and the fields of LogScope.
// Call initLogging() once in main; tests get a default logger.
#pragma once

#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <string_view>

namespace megafuse {

// level: trace|debug|info|warn|error|off. Throws std::invalid_argument on an unknown level.
// Picks the journal when journalIsStderr(), plain "[time] [level] message" lines otherwise.
void initLogging(std::string_view level);

// True when stderr is the stream systemd connected to the journal: JOURNAL_STREAM names the
// device:inode of fd 2 (what systemd sets for StandardError=journal). A redirected stderr of a
// child of such a service no longer matches, so it gets plain text again.
bool journalIsStderr();

// Structured fields for the journal, per thread: while a LogScope lives, every log line this
// thread writes carries MOUNT=<mount> and OPERATION=<operation> (an empty value adds no field).
// Scopes nest; the inner one's non-empty values win. Without a scope, MOUNT= is taken from the
// message's "mount 'NAME'" phrase, the form every mount-related log line of the daemon uses.
// On a terminal the fields are not printed: the message already names the mount.
class LogScope {
public:
    LogScope(std::string mount, std::string operation);
    ~LogScope();
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

private:
    std::string previousMount_;
    std::string previousOperation_;
};

// The fields a line would get now: the scope's, else the mount named in the message.
struct LogFields {
    std::string mount;
    std::string operation;
};
LogFields currentLogFields(std::string_view message);

}  // namespace megafuse
