// Json: rendering and string escaping per RFC 8259.
#include "Json.hpp"

namespace megafuse::ctl {

std::string jsonQuote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    // \u00XX: below 0x20 only the last two hex digits vary.
                    constexpr const char* kHexDigits = "0123456789abcdef";
                    const auto code = static_cast<unsigned char>(c);
                    out += "\\u00";
                    out += kHexDigits[code >> 4U];
                    out += kHexDigits[code & 0xFU];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

JsonObject& JsonObject::addRaw(std::string_view key, std::string rendered) {
    fields_.emplace_back(std::string(key), std::move(rendered));
    return *this;
}

JsonObject& JsonObject::add(std::string_view key, std::string_view value) {
    return addRaw(key, jsonQuote(value));
}

JsonObject& JsonObject::add(std::string_view key, bool value) {
    return addRaw(key, value ? "true" : "false");
}

JsonObject& JsonObject::add(std::string_view key, uint64_t value) {
    return addRaw(key, std::to_string(value));
}

JsonObject& JsonObject::add(std::string_view key, const JsonObject& value) {
    return addRaw(key, value.str());
}

JsonObject& JsonObject::add(std::string_view key, const std::vector<JsonObject>& values) {
    std::string rendered = "[";
    for (size_t i = 0; i < values.size(); ++i) {
        rendered += (i == 0 ? "" : ",") + values[i].str();
    }
    return addRaw(key, rendered + "]");
}

JsonObject& JsonObject::add(std::string_view key, const std::vector<std::string>& values) {
    std::string rendered = "[";
    for (size_t i = 0; i < values.size(); ++i) {
        rendered += (i == 0 ? "" : ",") + jsonQuote(values[i]);
    }
    return addRaw(key, rendered + "]");
}

JsonObject& JsonObject::addNull(std::string_view key) {
    return addRaw(key, "null");
}

std::string JsonObject::str() const {
    std::string out = "{";
    for (size_t i = 0; i < fields_.size(); ++i) {
        out += (i == 0 ? "" : ",") + jsonQuote(fields_[i].first) + ":" + fields_[i].second;
    }
    return out + "}";
}

}  // namespace megafuse::ctl
