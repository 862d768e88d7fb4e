// CallArguments: one loop per dictionary; the first unknown key or wrong type ends it, named in
// the error with the keys that are known.
#include "dbus/CallArguments.hpp"

#include <algorithm>
#include <utility>

#include "dbus/BusText.hpp"

namespace megafuse::dbus {
namespace {

template <typename T>
T optionOfType(const std::string& key, const sdbus::Variant& value) {
    const std::string wanted = sdbus::signature_of<T>::str();
    if (!value.containsValueOfType<T>()) {
        throw invalidArgs("option '" + key + "' must be of type '" + wanted + "', got '" +
                          value.peekValueType() + "'");
    }
    return value.get<T>();
}

}  // namespace

manager::ManagerError invalidArgs(const std::string& why) {
    return {manager::ManagerErrc::InvalidArgs, why};
}

manager::UnmountOptions parseUnmountOptions(const Options& options) {
    manager::UnmountOptions out;
    for (const auto& [key, value] : options) {
        if (key == "force") {
            out.force = optionOfType<bool>(key, value);
        } else if (key == "lazy") {
            out.lazy = optionOfType<bool>(key, value);
        } else {
            throw invalidArgs("unknown option '" + key + "' (known: force, lazy)");
        }
    }
    return out;
}

void requireNoOptions(const Options& options) {
    if (!options.empty()) {
        throw invalidArgs("unknown option '" + options.begin()->first + "' (none are defined)");
    }
}

void requireRelativePaths(const std::vector<std::string>& paths) {
    for (const auto& path : paths) {
        if (path.starts_with('/')) {
            throw invalidArgs("path '" + path + "' must be relative to the mount root");
        }
        size_t pos = 0;
        while (pos <= path.size()) {
            size_t slash = path.find('/', pos);
            if (slash == std::string::npos) {
                slash = path.size();
            }
            if (path.compare(pos, slash - pos, "..") == 0 && slash - pos == 2) {
                throw invalidArgs("path '" + path + "' must not contain '..'");
            }
            pos = slash + 1;
        }
    }
}

std::vector<std::string> pathsFromBus(std::vector<std::string> paths) {
    for (auto& path : paths) {
        auto bytes = unquotePath(path);
        if (!bytes) {
            throw invalidArgs("path '" + path + "' starts with '\"' but is not a quoted path");
        }
        path = std::move(*bytes);
    }
    requireRelativePaths(paths);
    return paths;
}

std::optional<changes::Signature> parseCommitOptions(const Options& options) {
    std::optional<std::string> name;
    std::optional<std::string> email;
    for (const auto& [key, value] : options) {
        if (key == "author_name") {
            name = optionOfType<std::string>(key, value);
        } else if (key == "author_email") {
            email = optionOfType<std::string>(key, value);
        } else {
            throw invalidArgs("unknown option '" + key + "' (known: author_name, author_email)");
        }
    }
    if (name.has_value() != email.has_value()) {
        throw invalidArgs("author_name and author_email go together");
    }
    if (name && (name->empty() || email->empty())) {
        throw invalidArgs("author_name and author_email must not be empty");
    }
    // Git writes "name <email>" into the commit's header: a line break or an angle bracket would
    // forge header lines (the rule config.yaml's author follows too).
    if (name && name->find_first_of("<>\n") != std::string::npos) {
        throw invalidArgs("author_name must not contain <, > or line breaks");
    }
    if (email && (email->find('@') == std::string::npos ||
                  std::any_of(email->begin(), email->end(), [](char c) {
                      const auto byte = static_cast<unsigned char>(c);
                      return byte <= 0x20 || byte == 0x7f || c == '<' || c == '>';
                  }))) {
        throw invalidArgs("author_email must be an address such as dev@example.com");
    }
    if (!name) {
        return std::nullopt;
    }
    return changes::Signature{*name, *email};
}

bool parseCheckoutOptions(const Options& options) {
    bool force = false;
    for (const auto& [key, value] : options) {
        if (key == "force") {
            force = optionOfType<bool>(key, value);
        } else {
            throw invalidArgs("unknown option '" + key + "' (known: force)");
        }
    }
    return force;
}

manager::MountSpec parseMountSpec(const Options& spec) {
    manager::MountSpec out;
    bool haveName = false;
    bool haveSource = false;
    bool haveMountpoint = false;
    for (const auto& [key, value] : spec) {
        if (key == "name") {
            out.name = optionOfType<std::string>(key, value);
            haveName = true;
        } else if (key == "source") {
            out.source = optionOfType<std::string>(key, value);
            haveSource = true;
        } else if (key == "mountpoint") {
            out.mountpoint = optionOfType<std::string>(key, value);
            haveMountpoint = true;
        } else if (key == "revision") {
            out.revision = optionOfType<std::string>(key, value);
        } else if (key == "path") {
            out.subPath = optionOfType<std::string>(key, value);
        } else if (key == "writable") {
            out.writable = optionOfType<bool>(key, value);
        } else if (key == "mount") {
            out.mountNow = optionOfType<bool>(key, value);
        } else {
            throw invalidArgs("unknown key '" + key +
                              "' (known: name, source, mountpoint, revision, path, writable, "
                              "mount)");
        }
    }
    if (!haveName) {
        throw invalidArgs("missing key 'name' (s)");
    }
    if (!haveSource) {
        throw invalidArgs("missing key 'source' (s)");
    }
    if (!haveMountpoint) {
        throw invalidArgs("missing key 'mountpoint' (s)");
    }
    return out;
}

}  // namespace megafuse::dbus
