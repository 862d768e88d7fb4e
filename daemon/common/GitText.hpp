// GitText: bytes from Git trees (any bytes but NUL and '/') shown as text. One UTF-8 decoder for
// the checks (a config file, D-Bus strings) and one C-style path quoting, Git's own, for diff
// headers (core.quotePath=true: every byte above 0x7f as octal) and for D-Bus strings
// (core.quotePath=false: UTF-8 characters kept).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace megafuse {

// The length of the well-formed UTF-8 character at text[i] (RFC 3629: no overlong forms,
// surrogates or code points above U+10FFFF), or 0 when the byte there starts none.
size_t utf8Length(std::string_view text, size_t i);

// The offset of the first byte that is not part of well-formed UTF-8, or nullopt.
std::optional<size_t> firstNonUtf8Byte(std::string_view text);

inline bool isUtf8(std::string_view text) {
    return !firstNonUtf8Byte(text);
}

// Free text (messages, git's reports) with every byte that is not part of a UTF-8 character
// written as \ooo (octal, as in quoted paths); UTF-8 text comes back unchanged.
std::string escapeNonUtf8(std::string_view text);

enum class NonAscii {
    Octal,    // git's default (core.quotePath=true): what `git apply` reads in diff headers
    KeepUtf8  // core.quotePath=false: UTF-8 characters as they are, other high bytes octal
};

// A path as Git shows it: as is when it holds no control byte, '"', '\' (and, with Octal, no
// byte above 0x7f; with KeepUtf8, no byte outside a UTF-8 character); else in double quotes
// with \" \\ \a \b \t \n \v \f \r and three octal digits for the other bytes quoted.
std::string quoteGitPath(std::string_view path, NonAscii nonAscii);

// The inverse: a string in double quotes is unquoted (nullopt when its escapes are malformed or
// name a NUL); any other string is the path itself.
std::optional<std::string> unquoteGitPath(std::string_view text);

}  // namespace megafuse
