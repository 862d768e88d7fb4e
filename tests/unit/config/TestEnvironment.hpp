// TestEnvironment: a fixed $HOME and no XDG variables, so "~" expansion and the default paths in
// expected values are the same on every machine.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

namespace megafuse::config {

class FixedHomeTest : public ::testing::Test {
protected:
    static constexpr const char* kHome = "/home/tester";

    void SetUp() override {
        setVariable("HOME", kHome);
        for (const char* name : {"XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"}) {
            setVariable(name, nullptr);
        }
    }

    // nullptr unsets. Tests run on one thread, so changing the environment races with nothing.
    static void setVariable(const char* name, const char* value) {
        if (value == nullptr) {
            ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
        } else {
            ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
        }
    }
};

}  // namespace megafuse::config
