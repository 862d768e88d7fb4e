// StoreError: the object store's one error type. Each code has a name and one errno; the FUSE
// layer maps to errno (toErrno), the D-Bus layer to an error name — each mapping in one place.
#pragma once

#include <stdexcept>
#include <string>

namespace megafuse::store {

enum class StoreErrc {
    NotFound,      // object, path or revision does not exist (ENOENT)
    BadSource,     // the source cannot be opened or cloned (EIO)
    FetchFailed,   // the server refused or the transport broke (EIO)
    Timeout,       // a fetch did not finish within fetchTimeout (EIO; the reader never hangs)
    Corrupt,       // bytes on disk or from the server do not match their id (EIO)
    Io,            // local disk trouble, e.g. ENOSPC in the content cache (EIO)
    Unsupported,   // this store cannot do that (write objects, push without a remote) (ENOTSUP)
    PushRejected,  // the server refused a push (non-fast-forward, hook); message = its words (EIO)
};

class StoreError : public std::runtime_error {
public:
    StoreError(StoreErrc code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    [[nodiscard]] StoreErrc code() const { return code_; }
    [[nodiscard]] int toErrno() const;

private:
    StoreErrc code_;
};

const char* toString(StoreErrc code);

}  // namespace megafuse::store
