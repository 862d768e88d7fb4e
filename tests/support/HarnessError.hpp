// HarnessError: what a harness helper throws when the world is not as a test needs it (git
// failed, a server did not start). GoogleTest reports it as a failure with this message.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace megafuse::test {

class HarnessError : public std::runtime_error {
public:
    explicit HarnessError(const std::string& message) : std::runtime_error(message) {}
};

// Bytes as a reader can see them in a failure message: printable ASCII kept, the rest \xNN.
std::string printable(std::string_view bytes);

// strerror, but thread-safe (the watchdog thread reports too): "No such file or directory".
std::string errnoText(int error);

// The whole file as bytes; throws HarnessError when it cannot be read.
std::string readWholeFile(const std::string& path);

// The last maxBytes of a file (whole lines), for dumping logs into failure messages.
std::string tailOfFile(const std::string& path, size_t maxBytes = 32U << 10U);

}  // namespace megafuse::test
