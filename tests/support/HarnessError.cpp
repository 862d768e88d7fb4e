// HarnessError helpers: byte escaping and file reading shared by every harness piece.
#include "support/HarnessError.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

namespace megafuse::test {

std::string printable(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(kHex[c >> 4U]);
            out.push_back(kHex[c & 0xfU]);
        }
    }
    return out;
}

std::string errnoText(int error) {
    return std::error_code(error, std::generic_category()).message();
}

std::string readWholeFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw HarnessError("cannot read " + path);
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

std::string tailOfFile(const std::string& path, size_t maxBytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return "(no log at " + path + ")";
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    if (text.size() <= maxBytes) {
        return text;
    }
    std::string tail = text.substr(text.size() - maxBytes);
    if (auto newline = tail.find('\n'); newline != std::string::npos) {
        tail.erase(0, newline + 1);
    }
    return "[... " + std::to_string(text.size() - tail.size()) + " bytes before]\n" + tail;
}

}  // namespace megafuse::test
