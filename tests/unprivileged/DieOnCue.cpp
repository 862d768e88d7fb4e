// DieOnCue: an LD_PRELOAD library that makes the process it is loaded into die, from a thread of
// its own, once a cue file exists — the way MEGAFUSE_TEST_DIE names: "segv" (a store through a
// null pointer), "throw" (an exception no one catches: std::terminate, then abort) or "exit"
// (std::exit(3) while the mount is up: static destructors run, the main thread's do not).
// It arms only in mega-fused itself (not in a wrapper such as the harness's setpriv, which passes
// the environment on), and there takes itself out of the environment, so the git and fusermount3
// children do not die with it.
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

[[noreturn]] void die(const std::string& how) {
    if (how == "segv") {
        // Read through volatile, so the compiler cannot see the null and drop the store.
        volatile std::uintptr_t nowhere = 0;
        // cppcheck-suppress nullPointer ; the point: a real SIGSEGV in the daemon
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): a real SIGSEGV is the point
        *reinterpret_cast<volatile int*>(nowhere) = 1;  // NOLINT(performance-no-int-to-ptr)
    } else if (how == "throw") {
        throw std::runtime_error("DieOnCue: an exception no one catches");
    }
    std::exit(
        3);  // NOLINT(concurrency-mt-unsafe): exiting from under the other threads is the point
}

__attribute__((constructor)) void armDieOnCue() {
    const char* how = std::getenv("MEGAFUSE_TEST_DIE");      // NOLINT(concurrency-mt-unsafe)
    const char* cue = std::getenv("MEGAFUSE_TEST_DIE_CUE");  // NOLINT(concurrency-mt-unsafe)
    std::error_code error;
    if (how == nullptr || cue == nullptr ||
        std::filesystem::read_symlink("/proc/self/exe", error).filename() != "mega-fused") {
        return;
    }
    std::thread([how = std::string(how), cue = std::string(cue)] {
        using namespace std::chrono_literals;
        struct stat st {};
        while (::stat(cue.c_str(), &st) != 0) {
            std::this_thread::sleep_for(10ms);
        }
        die(how);
    }).detach();
    // Before main: no other thread reads the environment yet.
    for (const char* name : {"LD_PRELOAD", "MEGAFUSE_TEST_DIE", "MEGAFUSE_TEST_DIE_CUE"}) {
        ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    }
}

}  // namespace
