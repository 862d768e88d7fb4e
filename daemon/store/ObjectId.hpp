// ObjectId: a Git object name (SHA-1, 20 bytes). Value type, hashable, ordered; the key of every
// cache, so identical content is stored and fetched once whatever path or source it comes from.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace megafuse::store {

class ObjectId {
public:
    static constexpr size_t kRawSize = 20;
    using Raw = std::array<uint8_t, kRawSize>;

    ObjectId() = default;
    explicit ObjectId(const Raw& raw) : raw_(raw) {}
    static ObjectId fromRaw(const uint8_t* bytes);
    // Exactly 40 hex digits (either case); nullopt otherwise.
    static std::optional<ObjectId> fromHex(std::string_view hex);

    [[nodiscard]] const Raw& raw() const { return raw_; }
    [[nodiscard]] std::string hex() const;
    [[nodiscard]] bool isZero() const;

    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy<18 bug on defaulted <=> (llvm#53961)
    auto operator<=>(const ObjectId&) const = default;

private:
    Raw raw_{};
};

struct ObjectIdHash {
    size_t operator()(const ObjectId& id) const noexcept;
};

}  // namespace megafuse::store
