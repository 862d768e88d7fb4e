#include "common/GitText.hpp"

namespace megafuse {
namespace {

void appendOctal(std::string& out, unsigned char byte) {
    out += '\\';
    out += static_cast<char>('0' + (byte >> 6U));
    out += static_cast<char>('0' + ((byte >> 3U) & 7U));
    out += static_cast<char>('0' + (byte & 7U));
}

bool isControl(unsigned char byte) {
    return byte < 0x20 || byte == 0x7f;
}

// The escape Git writes for a byte that has a name, or nullptr.
const char* namedEscape(unsigned char byte) {
    switch (byte) {
        case '\a':
            return "\\a";
        case '\b':
            return "\\b";
        case '\t':
            return "\\t";
        case '\n':
            return "\\n";
        case '\v':
            return "\\v";
        case '\f':
            return "\\f";
        case '\r':
            return "\\r";
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        default:
            return nullptr;
    }
}

// The bytes of path[i...] kept as they are: a UTF-8 character (KeepUtf8), or one printable
// ASCII byte other than '"' and '\'; 0 when path[i] must be escaped.
size_t keptLength(std::string_view path, size_t i, NonAscii nonAscii) {
    const auto byte = static_cast<unsigned char>(path[i]);
    if (byte >= 0x80) {
        return nonAscii == NonAscii::KeepUtf8 ? utf8Length(path, i) : 0;
    }
    return isControl(byte) || byte == '"' || byte == '\\' ? 0 : 1;
}

}  // namespace

size_t utf8Length(std::string_view text, size_t i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
        return 1;
    }
    size_t length = 0;
    unsigned char low = 0x80;  // bounds of the second byte; later ones are 80..BF
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        low = lead == 0xE0 ? 0xA0 : 0x80;   // no overlong forms
        high = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        low = lead == 0xF0 ? 0x90 : 0x80;
        high = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (i + length > text.size()) {
        return 0;
    }
    for (size_t k = 1; k < length; ++k) {
        const auto next = static_cast<unsigned char>(text[i + k]);
        if (k == 1 ? (next < low || next > high) : (next & 0xC0U) != 0x80U) {
            return 0;
        }
    }
    return length;
}

std::optional<size_t> firstNonUtf8Byte(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
        const size_t length = utf8Length(text, i);
        if (length == 0) {
            return i;
        }
        i += length;
    }
    return std::nullopt;
}

std::string escapeNonUtf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (const size_t length = utf8Length(text, i); length != 0) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            appendOctal(out, static_cast<unsigned char>(text[i++]));
        }
    }
    return out;
}

std::string quoteGitPath(std::string_view path, NonAscii nonAscii) {
    bool plain = true;
    for (size_t i = 0; i < path.size() && plain;) {
        const size_t kept = keptLength(path, i, nonAscii);
        plain = kept != 0;
        i += kept;
    }
    if (plain) {
        return std::string(path);
    }
    std::string out = "\"";
    for (size_t i = 0; i < path.size();) {
        if (const size_t kept = keptLength(path, i, nonAscii); kept != 0) {
            out.append(path.substr(i, kept));
            i += kept;
            continue;
        }
        const auto byte = static_cast<unsigned char>(path[i++]);
        if (const char* named = namedEscape(byte)) {
            out += named;
        } else {
            appendOctal(out, byte);
        }
    }
    out += '"';
    return out;
}

std::optional<std::string> unquoteGitPath(std::string_view text) {
    if (text.size() < 2 || !text.starts_with('"') || !text.ends_with('"')) {
        return std::string(text);
    }
    const std::string_view body = text.substr(1, text.size() - 2);
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\') {
            if (body[i] == '"') {
                return std::nullopt;  // an unescaped quote inside: not something Git writes
            }
            out += body[i];
            continue;
        }
        if (++i == body.size()) {
            return std::nullopt;
        }
        switch (body[i]) {
            case 'a':
                out += '\a';
                break;
            case 'b':
                out += '\b';
                break;
            case 't':
                out += '\t';
                break;
            case 'n':
                out += '\n';
                break;
            case 'v':
                out += '\v';
                break;
            case 'f':
                out += '\f';
                break;
            case 'r':
                out += '\r';
                break;
            case '"':
            case '\\':
                out += body[i];
                break;
            default: {
                unsigned value = 0;
                for (size_t k = 0; k < 3; ++k, ++i) {
                    if (i >= body.size() || body[i] < '0' || body[i] > '7') {
                        return std::nullopt;
                    }
                    value = value * 8 + static_cast<unsigned>(body[i] - '0');
                }
                --i;
                if (value == 0 || value > 0xff) {
                    return std::nullopt;  // a NUL or more than a byte is no file name
                }
                out += static_cast<char>(value);
            }
        }
    }
    return out;
}

}  // namespace megafuse
