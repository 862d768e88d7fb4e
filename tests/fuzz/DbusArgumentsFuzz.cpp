// DbusArgumentsFuzz: what a D-Bus client can put in a call → the validation layer
// (dbus/CallArguments) → the manager, as the daemon's handlers chain them. Option dictionaries
// (a{sv}) are built from the input with values of the types a client can send; AddMount's spec
// then goes through a real MountManager (mounting switched off). Every call either accepts or
// fails with InvalidArgs (NotFound for ResolveMount), and whatever is accepted holds up: a mount
// added has a valid name and an absolute, existing, free mountpoint; paths never leave the mount;
// a commit author cannot break a commit header.
#include <sdbus-c++/Error.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "FuzzCheck.hpp"
#include "dbus/CallArguments.hpp"
#include "manager/FuseMountBackend.hpp"
#include "manager/MountManager.hpp"
#include "manager/Mountpoints.hpp"

namespace {

using megafuse::fuzz::require;
namespace dbus = megafuse::dbus;
namespace manager = megafuse::manager;
namespace config = megafuse::config;
namespace fs = std::filesystem;

// A fixed place (not mkdtemp) so seeds and the dictionary can name real folders in it.
const fs::path kSandbox = "/tmp/megafuse-fuzz-dbus";

struct Fixture {
    std::unique_ptr<manager::MountManager> mounts;

    Fixture() {
        spdlog::set_level(spdlog::level::off);
        fs::remove_all(kSandbox);
        fs::create_directories(kSandbox / "home");
        fs::create_directories(kSandbox / "m" / "inner");
        fs::create_directories(kSandbox / "n");
        fs::create_directory_symlink("m", kSandbox / "link");
        std::ofstream(kSandbox / "file") << "not a folder\n";
        ::setenv("HOME", (kSandbox / "home").c_str(), 1);
        config::GlobalSettings global;
        global.cacheDir = kSandbox / "cache";
        global.stateDir = kSandbox / "state";
        manager::ManagerOptions options;
        options.workerThreads = 1;
        mounts = std::make_unique<manager::MountManager>(
            std::make_unique<manager::FuseMountBackend>(global), options);
        config::Config none;
        none.global = global;
        mounts->start(none, [] {});
        // Unregistered, the sandbox only stays behind until the next run removes it first.
        if (std::atexit([] { fs::remove_all(kSandbox); }) != 0) {
            std::fprintf(stderr, "DbusArgumentsFuzz: %s stays behind\n", kSandbox.c_str());
        }
    }

    static Fixture& instance() {
        static Fixture fixture;
        return fixture;
    }
};

// The input is text a seed can be written in: option lines "key<TAB>type<TAB>value" (type b, s, t,
// i, d or as: bool, string, uint64, int32, double, string list split on ','; in values \n, \t and
// \\ stand for themselves), a line "--", path lines for the change-set methods, a line "--", and
// the rest for ResolveMount.
struct Call {
    std::vector<std::string> optionLines;
    std::vector<std::string> paths;
    std::string nameOrPath;
};

Call splitInput(std::string_view text) {
    Call call;
    int section = 0;
    while (section < 2 && !text.empty()) {
        const size_t end = std::min(text.find('\n'), text.size());
        std::string line(text.substr(0, end));
        text.remove_prefix(std::min(end + 1, text.size()));
        if (line == "--") {
            ++section;
        } else if (section == 0) {
            call.optionLines.push_back(std::move(line));
        } else {
            call.paths.push_back(std::move(line));
        }
    }
    call.nameOrPath = std::string(text);
    return call;
}

std::string unescape(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            const char next = text[++i];
            out += next == 'n' ? '\n' : next == 't' ? '\t' : next;
        } else {
            out += text[i];
        }
    }
    return out;
}

template <typename T>
std::optional<T> number(const std::string& text) {
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// The variant a line stands for; nullopt for a line no client could send (no such type, or a
// string sd-bus refuses: invalid UTF-8 never arrives from the bus).
std::optional<std::pair<std::string, sdbus::Variant>> optionOf(const std::string& line) {
    const size_t tab1 = line.find('\t');
    const size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    if (tab2 == std::string::npos) {
        return std::nullopt;
    }
    std::string key = line.substr(0, tab1);
    const std::string type = line.substr(tab1 + 1, tab2 - tab1 - 1);
    const std::string value = unescape(std::string_view(line).substr(tab2 + 1));
    try {
        if (type == "b") {
            return std::pair(key, sdbus::Variant(value == "true"));
        }
        if (type == "s") {
            return std::pair(key, sdbus::Variant(value));
        }
        if (type == "t") {
            auto n = number<uint64_t>(value);
            return n ? std::optional(std::pair(key, sdbus::Variant(*n))) : std::nullopt;
        }
        if (type == "i") {
            auto n = number<int32_t>(value);
            return n ? std::optional(std::pair(key, sdbus::Variant(*n))) : std::nullopt;
        }
        if (type == "d") {
            return std::pair(key, sdbus::Variant(std::strtod(value.c_str(), nullptr)));
        }
        if (type == "as") {
            std::vector<std::string> list;
            size_t start = 0;
            while (start <= value.size()) {
                const size_t comma = std::min(value.find(',', start), value.size());
                list.push_back(value.substr(start, comma - start));
                start = comma + 1;
            }
            return std::pair(key, sdbus::Variant(list));
        }
    } catch (const sdbus::Error&) {
    }
    return std::nullopt;
}

// Runs one validation step: it accepts, or refuses with one of the allowed codes.
template <typename Fn>
bool accepts(const char* call, Fn&& fn,
             manager::ManagerErrc allowed = manager::ManagerErrc::InvalidArgs) {
    try {
        fn();
        return true;
    } catch (const manager::ManagerError& e) {
        require(e.code() == allowed, std::string(call) + " refuses with its documented code",
                std::string(manager::toString(e.code())) + ": " + e.what());
        require(std::string_view(e.what()).size() > 0, std::string(call) + " says why");
    } catch (const std::exception& e) {
        require(false, std::string(call) + " throws ManagerError only", e.what());
    }
    return false;
}

bool isMountNameChar(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool leavesMount(const std::string& path) {
    if (path.starts_with('/')) {
        return true;
    }
    size_t start = 0;
    while (start <= path.size()) {
        const size_t end = std::min(path.find('/', start), path.size());
        if (path.compare(start, end - start, "..") == 0 && end - start == 2) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

void addAndRemove(manager::MountManager& mounts, manager::MountSpec spec) {
    spec.mountNow = false;  // the fuzzer checks the validation, not FUSE
    std::string name;
    if (!accepts("AddMount", [&] { name = mounts.addMount(spec, [](const auto&) {}); })) {
        return;
    }
    const manager::MountInfo info = mounts.info(name);
    const config::MountConfig& m = info.config;
    require(!m.name.empty() && m.name.size() <= config::kMaxMountNameLength &&
                std::all_of(m.name.begin(), m.name.end(), isMountNameChar) && m.name != "." &&
                m.name != "..",
            "an added mount's name is [A-Za-z0-9._-]{1,64}, not . or ..", m.name);
    require(m.mountpoint.is_absolute() && m.mountpoint == m.mountpoint.lexically_normal(),
            "an added mount's mountpoint is absolute and normalized", m.mountpoint.native());
    struct stat st {};
    require(::lstat(m.mountpoint.c_str(), &st) == 0 && S_ISDIR(st.st_mode),
            "an added mount's mountpoint is an existing directory, not a symlink",
            m.mountpoint.native());
    require(!manager::mountpointProblem(m.mountpoint), "an added mount's mountpoint is usable",
            m.mountpoint.native());
    require(!info.configured, "an added mount is ad hoc");
    std::promise<std::optional<manager::ManagerError>> removed;
    mounts.removeMount(name, {}, [&](const auto& error) { removed.set_value(error); });
    const auto error = removed.get_future().get();
    require(!error && !mounts.contains(name), "an unmounted ad-hoc mount is removed",
            error ? error->what() : name);
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point, named by libFuzzer.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    manager::MountManager& mounts = *Fixture::instance().mounts;
    const Call call = splitInput(std::string_view(reinterpret_cast<const char*>(data), size));
    dbus::Options options;
    for (const auto& line : call.optionLines) {
        auto option = optionOf(line);
        if (!option) {
            return 0;
        }
        options.insert_or_assign(std::move(option->first), std::move(option->second));
    }
    manager::MountSpec spec;
    if (accepts("parseMountSpec", [&] { spec = dbus::parseMountSpec(options); })) {
        addAndRemove(mounts, spec);
    }
    (void)accepts("parseUnmountOptions", [&] { (void)dbus::parseUnmountOptions(options); });
    (void)accepts("requireNoOptions", [&] { dbus::requireNoOptions(options); });
    (void)accepts("parseCheckoutOptions", [&] { (void)dbus::parseCheckoutOptions(options); });
    std::optional<megafuse::changes::Signature> author;
    if (accepts("parseCommitOptions", [&] { author = dbus::parseCommitOptions(options); }) &&
        author) {
        for (const std::string* part : {&author->name, &author->email}) {
            require(!part->empty() &&
                        part->find_first_of(std::string("<>\n\0", 4)) == std::string::npos,
                    "an accepted commit author cannot break the commit header", *part);
        }
    }
    if (accepts("requireRelativePaths", [&] { dbus::requireRelativePaths(call.paths); })) {
        for (const auto& path : call.paths) {
            require(!leavesMount(path), "an accepted path stays inside the mount", path);
        }
    }
    (void)accepts(
        "ResolveMount", [&] { (void)mounts.resolve(call.nameOrPath); },
        manager::ManagerErrc::NotFound);
    return 0;
}
