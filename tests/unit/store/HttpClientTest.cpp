// HttpClient's own rules that need no server: server text quoted in a message never carries the
// bearer token (a server echoing it back must not put it in the daemon's log).
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "store/HttpClient.hpp"

namespace megafuse::store {
namespace {

std::unique_ptr<HttpClient> clientWithToken(std::optional<std::string> token) {
    HttpOptions options;
    options.sourceName = "test";
    options.bearerToken = std::move(token);
    return std::make_unique<HttpClient>(std::move(options));
}

TEST(HttpClientTest, ServerTextLosesEveryCopyOfTheToken) {
    const auto client = clientWithToken("s3cret");
    EXPECT_EQ(client->withoutToken(R"({"err_message": "token s3cret is not valid"})"),
              R"({"err_message": "token <token> is not valid"})");
    EXPECT_EQ(client->withoutToken("s3crets3cret-s3cret"), "<token><token>-<token>");
    EXPECT_EQ(client->withoutToken("nothing secret"), "nothing secret");
}

TEST(HttpClientTest, WithoutATokenServerTextIsUnchanged) {
    EXPECT_EQ(clientWithToken(std::nullopt)->withoutToken("a <b> c"), "a <b> c");
    EXPECT_EQ(clientWithToken("")->withoutToken("a <b> c"), "a <b> c");
}

}  // namespace
}  // namespace megafuse::store
