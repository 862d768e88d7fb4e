// SessionBus: a private D-Bus session bus per test (`dbus-daemon --session --fork`), so megactl
// and mega-fused never touch a bus the test did not start. Killed by PID in every outcome.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace megafuse::test {

class SessionBus {
public:
    // Listens on dir/bus. Throws HarnessError when dbus-daemon does not start.
    explicit SessionBus(const std::filesystem::path& dir);
    ~SessionBus();
    SessionBus(const SessionBus&) = delete;
    SessionBus& operator=(const SessionBus&) = delete;

    // For DBUS_SESSION_BUS_ADDRESS: "unix:path=<dir>/bus".
    [[nodiscard]] const std::string& address() const { return address_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

    // True when some connection owns this bus name (asked with dbus-send).
    [[nodiscard]] bool nameHasOwner(const std::string& name) const;

private:
    std::string address_;
    pid_t pid_ = -1;
};

}  // namespace megafuse::test
