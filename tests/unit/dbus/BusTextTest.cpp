// BusText: every path a tree can hold comes out as UTF-8 and reads back to the same bytes; UTF-8
// names stay as they are; quoting follows Git's; free text is escaped only where it must be.
#include <gtest/gtest.h>

#include <string>

#include "dbus/BusText.hpp"

namespace megafuse::dbus {
namespace {

TEST(BusText, Utf8IsCheckedAsSdBusDoes) {
    EXPECT_TRUE(isUtf8(""));
    EXPECT_TRUE(isUtf8("plain/ascii.txt"));
    EXPECT_TRUE(isUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(isUtf8("bad\xff\xfe"));
    EXPECT_FALSE(isUtf8("caf\xe9"));           // Latin-1
    EXPECT_FALSE(isUtf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(isUtf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(isUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(isUtf8("\xe2\x82"));          // cut short
}

TEST(BusText, PathsAreQuotedAsGitQuotesThem) {
    EXPECT_EQ(quotePath("src/main.c"), "src/main.c");
    EXPECT_EQ(quotePath(""), "");
    EXPECT_EQ(quotePath("caf\xc3\xa9.txt"), "caf\xc3\xa9.txt");  // core.quotePath=false
    EXPECT_EQ(quotePath("bad\xff\xfe"), R"("bad\377\376")");
    EXPECT_EQ(quotePath("caf\xe9.txt"), R"("caf\351.txt")");
    EXPECT_EQ(quotePath("tab\there\n"), R"("tab\there\n")");
    EXPECT_EQ(quotePath("say \"hi\"\\"), R"("say \"hi\"\\")");
    EXPECT_EQ(quotePath("\x01\x7f"), R"("\001\177")");
    EXPECT_EQ(quotePath("\xc3\xa9\xff"), "\"\xc3\xa9\\377\"");
}

TEST(BusText, EveryQuotedPathIsUtf8AndReadsBack) {
    // Every byte but NUL (a name cannot hold one), alone and around UTF-8 and quote characters.
    for (int b = 1; b < 256; ++b) {
        const char c = static_cast<char>(b);
        for (const std::string& path : {std::string(1, c), "a" + std::string(1, c) + "\xc3\xa9",
                                        "\"" + std::string(1, c), std::string(1, c) + "\""}) {
            const std::string quoted = quotePath(path);
            EXPECT_TRUE(isUtf8(quoted)) << b;
            EXPECT_EQ(unquotePath(quoted), path) << b << " " << quoted;
        }
    }
}

TEST(BusText, UnquoteRefusesMalformedQuotes) {
    EXPECT_EQ(unquotePath("plain"), "plain");
    EXPECT_EQ(unquotePath("\""), "\"");  // too short to be quoted: a name
    EXPECT_EQ(unquotePath(R"("a\"b")"), "a\"b");
    EXPECT_EQ(unquotePath(R"("bad\3")"), std::nullopt);
    EXPECT_EQ(unquotePath(R"("bad\400")"), std::nullopt);
    EXPECT_EQ(unquotePath(R"("nul\000")"), std::nullopt);
    EXPECT_EQ(unquotePath(R"("trailing\")"), std::nullopt);
    EXPECT_EQ(unquotePath(R"("in"side")"), std::nullopt);
}

TEST(BusText, FreeTextIsEscapedOnlyWhereItIsNotUtf8) {
    EXPECT_EQ(escapeNonUtf8("cannot open 'caf\xc3\xa9'\n\t\\"), "cannot open 'caf\xc3\xa9'\n\t\\");
    EXPECT_EQ(escapeNonUtf8("cannot open 'bad\xff\xfe': gone"),
              R"(cannot open 'bad\377\376': gone)");
}

}  // namespace
}  // namespace megafuse::dbus
