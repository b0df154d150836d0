#include "service/domain/callers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/protocol/crypto.h"

namespace ossup::domain {
namespace {

constexpr absl::string_view kToken = "tok_0123456789abcdefghijklmnopqrstuv";

std::string Registry(absl::string_view token, absl::string_view namespaces = R"(["acme"])") {
  return absl::StrCat(R"({"callers":[{"name":"billing","token_sha256":")",
                      protocol::HexEncode(*protocol::Sha256(token)), R"(","namespaces":)",
                      namespaces, "}]}");
}

TEST(CallerRegistryTest, AuthenticatesByHashedBearerToken) {
  auto registry = CallerRegistry::FromJson(Registry(kToken, R"(["acme","globex"])"));
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto caller = (*registry)->Authenticate(absl::StrCat("Bearer ", kToken));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ((*caller)->name, "billing");
  EXPECT_TRUE((*caller)->MayUse("acme"));
  EXPECT_TRUE((*caller)->MayUse("globex"));
  EXPECT_FALSE((*caller)->MayUse("initech"));
  EXPECT_TRUE((*registry)->Authenticate(absl::StrCat("bearer  ", kToken)).ok());
}

TEST(CallerRegistryTest, RefusesUnknownAndMalformedCredentials) {
  auto registry = CallerRegistry::FromJson(Registry(kToken));
  ASSERT_TRUE(registry.ok());
  for (const std::string& header :
       {std::string(), std::string(kToken), absl::StrCat("Basic ", kToken),
        absl::StrCat("Bearer ", kToken, "x"), std::string("Bearer short")}) {
    auto caller = (*registry)->Authenticate(header);
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_THAT(std::string(caller.status().message()),
                ::testing::Not(::testing::HasSubstr(std::string(kToken))));
  }
}

TEST(CallerRegistryTest, ReloadRotatesTokensAndKeepsHeldResultsValid) {
  auto registry = CallerRegistry::FromJson(Registry(kToken));
  ASSERT_TRUE(registry.ok());
  auto held = (*registry)->Authenticate(absl::StrCat("Bearer ", kToken));
  ASSERT_TRUE(held.ok());
  const std::string rotated = "tok_rotated_0123456789abcdefghijklmnop";
  ASSERT_TRUE((*registry)->Reload(Registry(rotated, R"(["globex"])")).ok());
  EXPECT_FALSE((*registry)->Authenticate(absl::StrCat("Bearer ", kToken)).ok());
  auto now = (*registry)->Authenticate(absl::StrCat("Bearer ", rotated));
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE((*now)->MayUse("globex"));
  EXPECT_EQ((*held)->name, "billing");  // still valid after the swap
  EXPECT_TRUE((*held)->MayUse("acme"));
  // A bad file leaves the current callers in force.
  EXPECT_FALSE((*registry)->Reload("{}").ok());
  EXPECT_TRUE((*registry)->Authenticate(absl::StrCat("Bearer ", rotated)).ok());
}

TEST(CallerRegistryTest, RejectsBadFiles) {
  EXPECT_FALSE(CallerRegistry::FromJson("").ok());
  EXPECT_FALSE(CallerRegistry::FromJson("{}").ok());
  EXPECT_FALSE(CallerRegistry::FromJson(R"({"callers":[]})").ok());  // never run without tokens
  EXPECT_FALSE(CallerRegistry::FromJson(Registry(kToken, "[]")).ok());
  EXPECT_FALSE(CallerRegistry::FromJson(Registry(kToken, R"(["Bad NS"])")).ok());
  EXPECT_FALSE(CallerRegistry::FromJson(
                   R"({"callers":[{"name":"x","token_sha256":"abc","namespaces":["a"]}]})")
                   .ok());
  const std::string twice = absl::StrCat(
      R"({"callers":[{"name":"a","token_sha256":")", protocol::HexEncode(*protocol::Sha256(kToken)),
      R"(","namespaces":["a"]},{"name":"b","token_sha256":")",
      protocol::HexEncode(*protocol::Sha256(kToken)), R"(","namespaces":["b"]}]})");
  EXPECT_FALSE(CallerRegistry::FromJson(twice).ok());
}

}  // namespace
}  // namespace ossup::domain
