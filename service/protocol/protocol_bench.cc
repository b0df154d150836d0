// Microbenchmarks of the protocol hot paths. Run: scripts/bench-protocol.sh
// Targets (issue 2): >= 100k policies signed per second per core; >= 30k callback verifications
// per second per core with the OSS key.
#include <benchmark/benchmark.h>

#include "absl/time/time.h"
#include "service/protocol/callback_params.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/public_key.h"
#include "service/protocol/testing/callback_test_vectors.h"
#include "service/protocol/post_form.h"

namespace ossup::protocol {
namespace {

PostObjectSpec ServiceLikeSpec(absl::Time now) {
  PostObjectSpec spec;
  spec.bucket = "media-uploads-prod";
  spec.key = "tenants/acme/users/42/2026/11/27/0f8fad5b-d9cb-469f-a165-70867728950e/photo.png";
  spec.min_size = 1;
  spec.max_size = 10 << 20;
  spec.content_type_mode = PostObjectSpec::ContentTypeMode::kOneOf;
  spec.content_types = {"image/png", "image/jpeg"};
  spec.forbid_overwrite = true;
  CallbackParams callback{
      {"https://uploads.example.com/oss/callback"}, "", std::nullopt, CallbackBodyType::kJson, ""};
  callback.body = *CallbackBodyTemplate(CallbackBodyType::kJson)
                       .AddLiteral("upload_id", "0f8fad5b-d9cb-469f-a165-70867728950e")
                       .AddLiteral("token", "b1946ac92492d2347c6235b4d2611184")
                       .AddVariable("bucket", "bucket")
                       .AddVariable("object", "object")
                       .AddVariable("size", "size")
                       .AddVariable("mime_type", "mimeType")
                       .AddVariable("etag", "etag")
                       .Render();
  spec.callback = *EncodeCallbackParams(callback);
  spec.expiration = now + absl::Minutes(15);
  return spec;
}

// The whole CreateUpload protocol cost: callback parameter, policy JSON, base64, V4 signature,
// form assembly (the signing key comes from the per-day cache, as in the service).
void BM_SignPostFormV4(benchmark::State& state) {
  const absl::Time now = absl::FromUnixSeconds(1795000000);
  SigningKeyCache cache;
  PostFormSigner signer(&cache);
  const Credentials creds{"LTAI5tExampleKeyId", "ExampleSecretExampleSecret123", "",
                          absl::InfiniteFuture()};
  const PostObjectSpec spec = ServiceLikeSpec(now);
  for (auto _ : state) {
    auto form = signer.Sign(spec, creds, "cn-hangzhou",
                            "https://media-uploads-prod.oss-cn-hangzhou.aliyuncs.com/",
                            SignatureVersion::kV4, now);
    benchmark::DoNotOptimize(form);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignPostFormV4);

// Including the callback template and parameter encoding done per upload.
void BM_BuildSpecAndSignV4(benchmark::State& state) {
  const absl::Time now = absl::FromUnixSeconds(1795000000);
  SigningKeyCache cache;
  PostFormSigner signer(&cache);
  const Credentials creds{"LTAI5tExampleKeyId", "ExampleSecretExampleSecret123", "",
                          absl::InfiniteFuture()};
  for (auto _ : state) {
    auto form = signer.Sign(ServiceLikeSpec(now), creds, "cn-hangzhou",
                            "https://media-uploads-prod.oss-cn-hangzhou.aliyuncs.com/",
                            SignatureVersion::kV4, now);
    benchmark::DoNotOptimize(form);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildSpecAndSignV4);

void BM_SigningKeyDerivation(benchmark::State& state) {
  for (auto _ : state) {
    auto key = DeriveV4SigningKey("ExampleSecretExampleSecret123", "20261127", "cn-hangzhou");
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SigningKeyDerivation);

// A full verification of the reference's OSS-signed callback (§3.5 #1) with the pinned OSS key:
// header lookup, base64, allowlist, string to sign, MD5, RSA-512 verify.
void BM_VerifyOssCallback(benchmark::State& state) {
  PinnedKeyProvider keys;
  CallbackVerifier verifier(&keys, CallbackVerifierOptions{});
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "app.example.com"},
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Authorization", std::string(testing::kVector1Authorization)},
      {"x-oss-pub-key-url", std::string(testing::kOssKeyUrlHttpsBase64)},
  };
  const CallbackRequestView request{testing::kVector1Target, headers, testing::kVector1Body};
  if (!verifier.Verify(request).ok()) {
    state.SkipWithError("the reference vector did not verify");
    return;
  }
  for (auto _ : state) {
    auto result = verifier.Verify(request);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyOssCallback);

}  // namespace
}  // namespace ossup::protocol

BENCHMARK_MAIN();
