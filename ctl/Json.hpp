// Json: the little JSON megactl writes for --json. Output only, objects keep insertion order so
// documented keys appear in a stable order; one compact document per line, ready for `jq`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace megafuse::ctl {

class JsonObject {
public:
    JsonObject& add(std::string_view key, std::string_view value);
    JsonObject& add(std::string_view key, const char* value) {
        return add(key, std::string_view(value));
    }
    JsonObject& add(std::string_view key, bool value);
    JsonObject& add(std::string_view key, uint64_t value);
    JsonObject& add(std::string_view key, const JsonObject& value);
    JsonObject& add(std::string_view key, const std::vector<JsonObject>& values);
    JsonObject& add(std::string_view key, const std::vector<std::string>& values);
    JsonObject& addNull(std::string_view key);

    [[nodiscard]] std::string str() const;

private:
    JsonObject& addRaw(std::string_view key, std::string rendered);

    std::vector<std::pair<std::string, std::string>> fields_;  // key, rendered value
};

// A JSON string literal, quotes included (control bytes as \u00XX; other bytes pass through).
std::string jsonQuote(std::string_view text);

}  // namespace megafuse::ctl
