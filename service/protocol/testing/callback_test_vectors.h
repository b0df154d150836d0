#ifndef OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_TEST_VECTORS_H_
#define OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_TEST_VECTORS_H_

#include "absl/strings/string_view.h"

// Test-only: the upload-callback signature vectors of reference §3.5, reproduced exactly.
namespace ossup::protocol::testing {

// Vector #1 (Alibaba doc Callback.md), signed with the OSS key (kOssCallbackPublicKeyPem).
inline constexpr absl::string_view kVector1Target = "/index.php?id=1&index=2";
inline constexpr absl::string_view kVector1Body = "bucket=yonghu-test";
inline constexpr absl::string_view kVector1Authorization =
    "kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==";
inline constexpr absl::string_view kVector1Md5Hex = "5b74fc97cc385b45c6c8b7782d5a2140";
// x-oss-pub-key-url values: base64 of the https and http key URLs.
inline constexpr absl::string_view kOssKeyUrlHttpsBase64 =
    "aHR0cHM6Ly9nb3NzcHVibGljLmFsaWNkbi5jb20vY2FsbGJhY2tfcHViX2tleV92MS5wZW0=";
inline constexpr absl::string_view kOssKeyUrlHttpBase64 =
    "aHR0cDovL2dvc3NwdWJsaWMuYWxpY2RuLmNvbS9jYWxsYmFja19wdWJfa2V5X3YxLnBlbQ==";

// alphasnow/aliyun-oss-appserver tests/CallbackTest.php @ b0be6247: a self-generated 1024-bit key.
inline constexpr absl::string_view kAlphasnowPublicKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6MJTNJ+/zFOdDI4EUPudLBpTX\n"
    "nY9QHoaPB+Ty6m+NqnEtFefxzQFgyaA3YQKHNh7ms9YrhBZV1tbpmqLdFX3HvifQ\n"
    "pv1YVsv4zm1F5SrqKreXBFeX8+UWJoMxbr871u3K1OBFAwx8JhmQWEdmn2qRoqOl\n"
    "3wdKATLa+g3BMGG7HQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
inline constexpr absl::string_view kAlphasnowTarget = "/tests/callback.php";
inline constexpr absl::string_view kAlphasnowBody =
    "filename=upload%2Ffile.zip&size=157&mimeType=application%2Fx-zip-compressed&height=&width=";
inline constexpr absl::string_view kAlphasnowAuthorization =
    "adK5wEx8Xko1k+PLK7X9AdNeBrERezJc+dIDs/cbI7a1Qj6T79maIO1VsSRmgiIH3LY+MG/N62lfaDSBq3ylN+yJyyXe"
    "letN/j/o+lg/j/m/6ghAUzbTBPniuxByWGvCE9pYgn5hKYDV6JhqF/y+8p87JsndAZULK9jdgjloOEw=";

}  // namespace ossup::protocol::testing

#endif  // OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_TEST_VECTORS_H_
