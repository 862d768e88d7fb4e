// BusText: bytes from trees, overlays and git on their way into D-Bus strings, which must be
// UTF-8 (sd-bus refuses to send anything else, so the reply would never leave). Paths are quoted
// losslessly as Git quotes them; messages are escaped only to stay readable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace megafuse::dbus {

// Whether text is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF), as sd-bus checks every string it sends.
bool isUtf8(std::string_view text);

// A path (a file name from a Git tree or the overlay: any bytes but NUL) as a D-Bus string: as is
// when it is UTF-8 without control characters, '"' or '\'; else Git's C-style quoting ("...",
// \" \\ \a \b \t \n \v \f \r, other control bytes and bytes that are not UTF-8 as three octal
// digits; UTF-8 characters kept, as with core.quotePath=false). A path starting with '"' is
// always quoted, so unquotePath reads every result back to the same bytes.
std::string quotePath(std::string_view path);

// The inverse for paths a caller sends: a string in double quotes is unquoted (nullopt when its
// escapes are malformed); any other string is the path itself.
std::optional<std::string> unquotePath(std::string_view text);

// Free text (error messages, git's reports, LastError) as a D-Bus string: unchanged when it is
// UTF-8, else every byte that is not part of a UTF-8 character becomes \ooo (octal, as in paths).
std::string escapeNonUtf8(std::string_view text);

}  // namespace megafuse::dbus
