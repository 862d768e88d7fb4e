// ObjectId: hex conversion and hashing.
#include "store/ObjectId.hpp"

#include <cstring>

namespace megafuse::store {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

ObjectId ObjectId::fromRaw(const uint8_t* bytes) {
    Raw raw;
    std::memcpy(raw.data(), bytes, kRawSize);
    return ObjectId(raw);
}

std::optional<ObjectId> ObjectId::fromHex(std::string_view hex) {
    if (hex.size() != 2 * kRawSize) {
        return std::nullopt;
    }
    Raw raw;
    for (size_t i = 0; i < kRawSize; ++i) {
        int hi = hexValue(hex[2 * i]);
        int lo = hexValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        raw[i] = static_cast<uint8_t>((hi << 4) | lo);
    }
    return ObjectId(raw);
}

std::string ObjectId::hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(2 * kRawSize, '0');
    for (size_t i = 0; i < kRawSize; ++i) {
        out[2 * i] = kDigits[raw_[i] >> 4U];
        out[2 * i + 1] = kDigits[raw_[i] & 0xfU];
    }
    return out;
}

bool ObjectId::isZero() const {
    for (uint8_t b : raw_) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

size_t ObjectIdHash::operator()(const ObjectId& id) const noexcept {
    // SHA-1 bytes are already uniformly distributed: the first word is a perfect hash.
    size_t h = 0;
    std::memcpy(&h, id.raw().data(), sizeof h);
    return h;
}

}  // namespace megafuse::store
