#!/usr/bin/env bash
# uploadctl verify-callback on good and bad captures (reference §3.5 vectors), offline.
# Usage: verify_callback_test.sh UPLOADCTL
set -uo pipefail
uploadctl="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
check() {  # name, want-exit, want-substring, args...
  local name="$1" want="$2" substr="$3"
  shift 3
  local out
  out="$("$uploadctl" "$@" 2>&1)"
  local rc=$?
  if [[ $rc == "$want" && "$out" == *"$substr"* ]]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (exit $rc, want $want; missing '$substr')"; echo "$out" | sed 's/^/     /'
  fi
}

auth='kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA=='
https_url='aHR0cHM6Ly9nb3NzcHVibGljLmFsaWNkbi5jb20vY2FsbGJhY2tfcHViX2tleV92MS5wZW0='
capture() {  # file, target, key-url-b64, body
  printf 'POST %s HTTP/1.1\r\nHost: app.example.com\r\nAuthorization: %s\r\nx-oss-pub-key-url: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
    "$2" "$auth" "$3" "${#4}" "$4" > "$1"
}
b64() { printf '%s' "$1" | base64 -w0; }

capture "$dir/good.http" '/index.php?id=1&index=2' "$https_url" 'bucket=yonghu-test'
capture "$dir/body.http" '/index.php?id=1&index=2' "$https_url" 'bucket=yonghu-tesT'
capture "$dir/query.http" '/index.php' "$https_url" 'bucket=yonghu-test'
capture "$dir/evil.http" '/index.php?id=1&index=2' "$(b64 https://example.com/callback_pub_key_v1.pem)" 'bucket=yonghu-test'
capture "$dir/lookalike.http" '/index.php?id=1&index=2' "$(b64 https://gosspublic.alicdn.com.evil.example/callback_pub_key_v1.pem)" 'bucket=yonghu-test'
capture "$dir/userinfo.http" '/index.php?id=1&index=2' "$(b64 https://gosspublic.alicdn.com@evil.example/k.pem)" 'bucket=yonghu-test'

check "the documented OSS callback verifies offline" 0 "verdict:        VERIFIED" verify-callback "$dir/good.http"
check "it prints the string to sign and its MD5" 0 "5b74fc97cc385b45c6c8b7782d5a2140" verify-callback "$dir/good.http"
check "it prints the decoded key URL" 0 "https://gosspublic.alicdn.com/callback_pub_key_v1.pem" verify-callback "$dir/good.http"
check "a changed body byte does not verify" 1 "SIGNATURE_MISMATCH" verify-callback "$dir/body.http"
check "a dropped query does not verify" 1 "SIGNATURE_MISMATCH" verify-callback "$dir/query.http"
check "a key URL outside the allowlist is refused" 1 "KEY_URL_NOT_ALLOWED" verify-callback "$dir/evil.http"
check "a look-alike host is refused" 1 "KEY_URL_NOT_ALLOWED" verify-callback "$dir/lookalike.http"
check "a userinfo trick is refused" 1 "KEY_URL_NOT_ALLOWED" verify-callback "$dir/userinfo.http"
check "an allowlist without OSS refuses even OSS's key" 1 "KEY_URL_NOT_ALLOWED" \
  verify-callback --allow-key-url-prefix=https://keys.example.com/ "$dir/good.http"
check "--json reports the verdict" 0 '"verified":true' verify-callback --json "$dir/good.http"

# A self-signed callback (alphasnow vector, 1024-bit key) with the key pinned for its URL.
cat > "$dir/alphasnow.pem" <<'PEM'
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6MJTNJ+/zFOdDI4EUPudLBpTX
nY9QHoaPB+Ty6m+NqnEtFefxzQFgyaA3YQKHNh7ms9YrhBZV1tbpmqLdFX3HvifQ
pv1YVsv4zm1F5SrqKreXBFeX8+UWJoMxbr871u3K1OBFAwx8JhmQWEdmn2qRoqOl
3wdKATLa+g3BMGG7HQIDAQAB
-----END PUBLIC KEY-----
PEM
auth='adK5wEx8Xko1k+PLK7X9AdNeBrERezJc+dIDs/cbI7a1Qj6T79maIO1VsSRmgiIH3LY+MG/N62lfaDSBq3ylN+yJyyXeletN/j/o+lg/j/m/6ghAUzbTBPniuxByWGvCE9pYgn5hKYDV6JhqF/y+8p87JsndAZULK9jdgjloOEw='
capture "$dir/alphasnow.http" '/tests/callback.php' "$(b64 https://keys.example.com/public.pem)" \
  'filename=upload%2Ffile.zip&size=157&mimeType=application%2Fx-zip-compressed&height=&width='
check "a pinned custom key verifies" 0 "VERIFIED" verify-callback \
  --allow-key-url-prefix=https://keys.example.com/ --pin=https://keys.example.com/public.pem="$dir/alphasnow.pem" "$dir/alphasnow.http"
check "without the pin and without --fetch it fails offline" 1 "KEY_FETCH_FAILED" verify-callback \
  --allow-key-url-prefix=https://keys.example.com/ "$dir/alphasnow.http"

check "a missing file is a usage error" 2 "cannot read" verify-callback "$dir/missing.http"
printf 'not http\r\n\r\n' > "$dir/garbage.http"
check "an unparsable capture is a usage error" 2 "first line" verify-callback "$dir/garbage.http"
sed '1s/^POST /GET /' "$dir/alphasnow.http" > "$dir/get.http"
check "a GET capture is refused as the service refuses it (405), exit 1" 1 "METHOD_NOT_ALLOWED" \
  verify-callback --allow-key-url-prefix=https://keys.example.com/ \
  --pin=https://keys.example.com/public.pem="$dir/alphasnow.pem" "$dir/get.http"
head -c 200 "$dir/alphasnow.http" | tr -d '\r' | head -n 3 > "$dir/cut.http"
check "a capture cut off in its headers is a usage error" 2 "no blank line" verify-callback \
  --allow-key-url-prefix=https://keys.example.com/ "$dir/cut.http"
check "a body limit the service would refuse is a usage error" 2 "max-body-bytes" verify-callback \
  --max-body-bytes=99999999999 "$dir/alphasnow.http"
check "--help documents the exit status" 0 "Exit status" verify-callback --help

echo "uploadctl verify-callback: $passed passed, $failed failed"
[[ $failed == 0 ]]
