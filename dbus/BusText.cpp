// BusText: D-Bus's side of common/GitText (one UTF-8 decoder, one quoting: Git's).
#include "dbus/BusText.hpp"

#include "common/GitText.hpp"

namespace megafuse::dbus {

bool isUtf8(std::string_view text) {
    return megafuse::isUtf8(text);
}

std::string quotePath(std::string_view path) {
    return quoteGitPath(path, NonAscii::KeepUtf8);
}

std::optional<std::string> unquotePath(std::string_view text) {
    return unquoteGitPath(text);
}

std::string escapeNonUtf8(std::string_view text) {
    return megafuse::escapeNonUtf8(text);
}

}  // namespace megafuse::dbus
