// ossup-load: the load generator of the service benchmarks (tests/load/bench.js runs it).
//
//   ossup-load create    --concurrency=16 --duration=10s ...   CreateUpload throughput/latency
//   ossup-load callbacks --concurrency=16 --uploads=5000 ...   signed callbacks to the endpoint
//   ossup-load latency   --rate=500 --uploads=5000 ...         callback accepted -> event received
//   ossup-load streams   --streams=10000 ...                   one event fanned out to N streams
//
// Each prints one JSON object on stdout. Callbacks are signed the way OSS signs them, with a key
// the service has pinned (--key-pem, --key-url); the objects they report are first stored in the
// OSS emulator by POSTing each upload's form while the emulator drops its own callbacks.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "ossup/upload/v1/upload_service.grpc.pb.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/crypto.h"
#include "service/remote/curl_util.h"

namespace {

namespace v1 = ::ossup::upload::v1;
namespace remote = ::ossup::remote;
using Json = nlohmann::json;

struct Common {
  std::string target = "127.0.0.1:50051";
  std::string token;
  std::string ns = "bench";
  std::string duration = "10s";
  std::string warmup = "2s";
  int concurrency = 16;
  int channels = 4;
  int cq_threads = 1;  // threads driving CreateUpload calls
};

absl::Duration ParseDurationOrDie(const std::string& s) {
  absl::Duration d;
  if (!absl::ParseDuration(s, &d)) {
    std::cerr << "ossup-load: bad duration '" << s << "'\n";
    std::exit(2);
  }
  return d;
}

// Separate connections (a local subchannel pool per channel), so load spreads over several
// HTTP/2 connections as it would from several backends.
std::vector<std::unique_ptr<v1::UploadService::Stub>> Stubs(const Common& c, int n) {
  std::vector<std::unique_ptr<v1::UploadService::Stub>> stubs;
  for (int i = 0; i < std::max(1, n); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("ossup.load.channel", i);
    stubs.push_back(v1::UploadService::NewStub(
        grpc::CreateCustomChannel(c.target, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

std::string Bearer(const Common& c) { return absl::StrCat("Bearer ", c.token); }

// A unary call's credentials and deadline (streams take Bearer() only).
void Authorize(grpc::ClientContext* ctx, const Common& c) {
  ctx->AddMetadata("authorization", Bearer(c));
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
}

v1::CreateUploadRequest CreateRequest(const Common& c, int64_t i) {
  v1::CreateUploadRequest req;
  req.set_parent(absl::StrCat("namespaces/", c.ns));
  req.set_subject(absl::StrCat("load-", i % 1000));
  req.mutable_key_template()->set_prefix("load/");
  req.mutable_key_template()->set_file_name("f.bin");
  req.mutable_constraints()->add_content_types("application/octet-stream");
  req.mutable_constraints()->set_max_size(1 << 20);
  return req;
}

Json Percentiles(std::vector<double> ms) {
  if (ms.empty()) return Json{{"count", 0}};
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  return Json{
      {"count", ms.size()}, {"p50_ms", at(0.50)}, {"p99_ms", at(0.99)}, {"max_ms", ms.back()}};
}

// --- scenario 1: CreateUpload ------------------------------------------------------------------

// Keeps `concurrency` CreateUpload calls in flight until `end`; latencies of calls started after
// `measure_from` are kept. On completion queues, each drained by the thread that starts its next
// calls: a finished call's answer is read, and the next call written, by the thread that polled
// it, without a handoff. With one such thread (the default) this load generator used 23-25 us of
// CPU and 0.35 context switches per call at 16 callers on the benchmark machine, against 28-30 us
// and 1.1 on gRPC's callback API, whose own threads run every completion: CPU the service and
// PostgreSQL share. With two threads, completions for one thread's queue are often polled by the
// other, which must then wake it.
class CreateLoad {
 public:
  CreateLoad(const Common& c, absl::Time measure_from, absl::Time end)
      : c_(c), stubs_(Stubs(c, c.channels)), measure_from_(measure_from), end_(end) {}

  Json Run() {
    const int threads = std::max(1, std::min(c_.cq_threads, c_.concurrency));
    std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
    for (int t = 0; t < threads; ++t) queues.push_back(std::make_unique<grpc::CompletionQueue>());
    std::vector<std::thread> drainers;
    for (int t = 0; t < threads; ++t) {
      drainers.emplace_back([this, t, threads, cq = queues[t].get()] {
        int in_flight = 0;
        for (int w = t; w < c_.concurrency; w += threads) {
          Issue(cq, w);
          ++in_flight;
        }
        void* tag;
        bool ok;
        while (in_flight > 0 && cq->Next(&tag, &ok)) {
          std::unique_ptr<Call> call(static_cast<Call*>(tag));
          if (Record(*call, absl::Now())) {
            Issue(cq, call->worker);
          } else {
            --in_flight;
          }
        }
        cq->Shutdown();
        while (cq->Next(&tag, &ok)) {
        }
      });
    }
    for (std::thread& t : drainers) t.join();
    const double seconds = absl::ToDoubleSeconds(end_ - measure_from_);
    absl::MutexLock lock(&mu_);
    Json out = Percentiles(latencies_ms_);
    out["throughput_per_s"] = latencies_ms_.size() / seconds;
    out["errors"] = errors_;
    out["first_error"] = first_error_;
    return out;
  }

  // The uploads created (for setups that need them).
  std::vector<v1::CreateUploadResponse> TakeCreated() {
    absl::MutexLock lock(&mu_);
    return std::move(created_);
  }
  void set_keep(size_t keep) { keep_ = keep; }

 private:
  struct Call {
    int worker = 0;
    grpc::ClientContext ctx;
    v1::CreateUploadRequest req;
    v1::CreateUploadResponse resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CreateUploadResponse>> rpc;
    absl::Time start;
  };

  void Issue(grpc::CompletionQueue* cq, int worker) {
    auto* call = new Call;
    call->worker = worker;
    Authorize(&call->ctx, c_);
    call->req = CreateRequest(c_, next_++);
    call->start = absl::Now();
    call->rpc = stubs_[worker % stubs_.size()]->AsyncCreateUpload(&call->ctx, call->req, cq);
    call->rpc->Finish(&call->resp, &call->status, call);
  }

  // Counts a finished call; whether its worker goes on.
  bool Record(Call& call, absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (!call.status.ok()) {
      if (errors_++ == 0) first_error_ = call.status.error_message();
    } else {
      if (call.start >= measure_from_ && now <= end_) {
        latencies_ms_.push_back(absl::ToDoubleMilliseconds(now - call.start));
      }
      if (created_.size() < keep_) created_.push_back(std::move(call.resp));
      if (keep_ > 0 && created_.size() >= keep_) return false;
    }
    return now < end_;
  }

  const Common& c_;
  std::vector<std::unique_ptr<v1::UploadService::Stub>> stubs_;
  const absl::Time measure_from_;
  const absl::Time end_;
  std::atomic<int64_t> next_{0};
  size_t keep_ = 0;
  absl::Mutex mu_;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CreateUploadResponse> created_ ABSL_GUARDED_BY(mu_);
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// --- scenario 2 and 3: signed callbacks ---------------------------------------------------------

struct SignedCallback {
  std::string upload_name;
  std::string url;  // the endpoint URL from the form's callback parameter
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
size_t CollectHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "etag:")) {
    *static_cast<std::string*>(out) = std::string(absl::StripAsciiWhitespace(line.substr(5)));
  }
  return size * n;
}

// POSTs the form with a tiny file (the emulator stores it; its own callback is dropped by the
// benchmark's fault switch) and returns the object's ETag.
absl::StatusOr<std::string> StoreObject(CURL* h, const v1::PostForm& form,
                                        const std::string& data) {
  remote::CurlMime owned_mime(curl_mime_init(h));
  curl_mime* mime = owned_mime.get();
  for (const auto& f : form.fields()) {
    curl_mimepart* p = curl_mime_addpart(mime);
    curl_mime_name(p, f.name().c_str());
    curl_mime_data(p, f.value().data(), f.value().size());
  }
  curl_mimepart* file = curl_mime_addpart(mime);
  curl_mime_name(file, form.file_field().c_str());
  curl_mime_data(file, data.data(), data.size());
  curl_mime_filename(file, "f.bin");
  curl_mime_type(file, "application/octet-stream");
  std::string body, etag;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, form.url().c_str());
  curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &etag);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(rc));
  // 203: stored, callback dropped (as the benchmark asked); 200 would mean a callback happened.
  if (status != 203 && status != 200) {
    return absl::InternalError(absl::StrCat("POST form: HTTP ", status, " ", body));
  }
  return std::string(absl::StripPrefix(absl::StripSuffix(etag, "\""), "\""));
}

// Builds the callback OSS would send for `created`, signed with the pinned key.
absl::StatusOr<SignedCallback> SignCallback(const v1::CreateUploadResponse& created,
                                            const std::string& etag, int64_t size, EVP_PKEY* key,
                                            const std::string& key_url) {
  std::string callback_b64;
  for (const auto& f : created.form().fields()) {
    if (f.name() == "callback") callback_b64 = f.value();
  }
  std::string callback_json;
  if (!absl::Base64Unescape(callback_b64, &callback_json)) {
    return absl::InternalError("form without a callback field");
  }
  const Json params = Json::parse(callback_json);
  std::string url = params["callbackUrl"].get<std::string>();
  url = url.substr(0, url.find(';'));
  std::string body = params["callbackBody"].get<std::string>();
  const v1::Upload& u = created.upload();
  body = absl::StrReplaceAll(body, {{"${bucket}", absl::StrCat("\"", u.bucket(), "\"")},
                                    {"${object}", absl::StrCat("\"", u.object_key(), "\"")},
                                    {"${size}", absl::StrCat(size)},
                                    {"${mimeType}", "\"application/octet-stream\""},
                                    {"${etag}", absl::StrCat("\"", etag, "\"")}});
  const size_t path_start = url.find('/', url.find("://") + 3);
  const std::string target = path_start == std::string::npos ? "/" : url.substr(path_start);
  absl::StatusOr<std::string> to_sign = ossup::protocol::CallbackStringToSign(target, body);
  if (!to_sign.ok()) return to_sign.status();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t sig_len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(to_sign->data());
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, "MD5", nullptr, nullptr, key, nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len, msg, to_sign->size()) != 1) {
    return absl::InternalError("sign");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, msg,
                     to_sign->size()) != 1) {
    return absl::InternalError("sign");
  }
  sig.resize(sig_len);
  return SignedCallback{u.name(),
                        url,
                        body,
                        {absl::StrCat("Authorization: ", absl::Base64Escape(sig)),
                         absl::StrCat("x-oss-pub-key-url: ", absl::Base64Escape(key_url)),
                         "Content-Type: application/json", "Expect:"}};
}

struct CallbackFlags {
  int64_t uploads = 5000;
  std::string key_pem;
  std::string key_url;
  double rate = 500;  // latency scenario
};

// Creates `n` uploads, stores their objects, and signs their callbacks.
std::vector<SignedCallback> PrepareCallbacks(const Common& c, const CallbackFlags& f) {
  std::ifstream in(f.key_pem);
  std::stringstream pem;
  pem << in.rdbuf();
  const std::string pem_text = pem.str();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem_text.data(), static_cast<int>(pem_text.size())), &BIO_free);
  std::shared_ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                &EVP_PKEY_free);
  if (!key) {
    std::cerr << "ossup-load: cannot read the private key " << f.key_pem << "\n";
    std::exit(2);
  }
  Common setup = c;
  setup.concurrency = std::min(c.concurrency, 16);
  CreateLoad creates(setup, absl::InfinitePast(), absl::InfiniteFuture());
  creates.set_keep(f.uploads);
  creates.Run();
  std::vector<v1::CreateUploadResponse> created = creates.TakeCreated();
  std::vector<SignedCallback> out(created.size());
  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  auto worker = [&] {
    remote::CurlEasy easy(curl_easy_init());
    CURL* h = easy.get();
    const std::string data(100, 'x');
    for (size_t i = next++; i < created.size(); i = next++) {
      absl::StatusOr<std::string> etag = StoreObject(h, created[i].form(), data);
      absl::StatusOr<SignedCallback> cb =
          etag.ok() ? SignCallback(created[i], *etag, data.size(), key.get(), f.key_url)
                    : absl::StatusOr<SignedCallback>(etag.status());
      if (!cb.ok()) {
        if (failures++ == 0) std::cerr << "ossup-load: setup: " << cb.status() << "\n";
        continue;
      }
      out[i] = *std::move(cb);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(worker);  // the emulator has 4 workers
  for (auto& t : threads) t.join();
  if (failures > 0) {
    std::cerr << "ossup-load: " << failures << " uploads could not be prepared\n";
    std::exit(1);
  }
  return out;
}

// Makes `h` POST `cb` with `headers` (which, like `body`, must live until the transfer ends);
// the answer's body goes to `body`.
void SetCallbackRequest(CURL* h, const SignedCallback& cb, curl_slist* headers, std::string* body) {
  curl_easy_setopt(h, CURLOPT_URL, cb.url.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, cb.body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(cb.body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

// Sends one callback on a kept-alive handle; returns the HTTP status (0 on transport errors).
long SendCallback(CURL* h, const SignedCallback& cb, curl_slist* headers) {
  std::string body;
  SetCallbackRequest(h, cb, headers, &body);
  if (curl_easy_perform(h) != CURLE_OK) return 0;
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

remote::CurlSlist HeaderList(const SignedCallback& cb) {
  curl_slist* list = nullptr;
  for (const auto& h : cb.headers) list = curl_slist_append(list, h.c_str());
  return remote::CurlSlist(list);
}

// Sends every callback, `concurrency` at a time, from ONE thread through curl multi (each on a
// kept-alive connection): the load generator's CPU goes into requests rather than into switching
// between a blocked thread per request, on the cores it shares with the service.
Json RunCallbacks(const Common& c, const CallbackFlags& f) {
  std::vector<SignedCallback> callbacks = PrepareCallbacks(c, f);
  // A marker for profilers: the setup is over, the measured phase starts.
  std::cerr << "ossup-load: prepared " << callbacks.size() << " callbacks; sending" << std::endl;
  struct Slot {
    remote::CurlEasy easy;
    remote::CurlSlist headers;
    std::string body;
    absl::Time start;
  };
  remote::CurlMulti multi(curl_multi_init());
  curl_multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(c.concurrency));
  std::vector<Slot> slots(std::max(1, c.concurrency));
  size_t next = 0;
  int64_t errors = 0;
  std::vector<double> latencies;
  latencies.reserve(callbacks.size());
  // Puts the next callback on `slot`'s handle; false when all are sent.
  auto send_next = [&](Slot& slot) {
    if (next >= callbacks.size()) return false;
    const SignedCallback& cb = callbacks[next++];
    slot.headers = HeaderList(cb);
    slot.body.clear();
    CURL* h = slot.easy.get();
    SetCallbackRequest(h, cb, slot.headers.get(), &slot.body);
    curl_easy_setopt(h, CURLOPT_PRIVATE, &slot);
    slot.start = absl::Now();
    if (curl_multi_add_handle(multi.get(), h) == CURLM_OK) return true;
    ++errors;
    return false;
  };
  const absl::Time start = absl::Now();
  int in_flight = 0;
  for (Slot& slot : slots) {
    slot.easy.reset(curl_easy_init());
    if (send_next(slot)) ++in_flight;
  }
  while (in_flight > 0) {
    int running = 0;
    curl_multi_perform(multi.get(), &running);
    remote::TakeFinishedTransfers(multi.get(), [&](CURL* h, CURLcode rc) {
      Slot* slot = nullptr;
      curl_easy_getinfo(h, CURLINFO_PRIVATE, reinterpret_cast<char**>(&slot));
      long status = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      latencies.push_back(absl::ToDoubleMilliseconds(absl::Now() - slot->start));
      if (rc != CURLE_OK || status != 200) ++errors;
      if (!send_next(*slot)) --in_flight;
    });
    if (in_flight > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  Json out = Percentiles(latencies);
  out["throughput_per_s"] = latencies.size() / seconds;  // the callbacks actually sent
  out["errors"] = errors;
  return out;
}

// --- scenario 3: event latency ------------------------------------------------------------------

Json RunLatency(const Common& c, const CallbackFlags& f) {
  std::vector<SignedCallback> callbacks = PrepareCallbacks(c, f);
  auto stubs = Stubs(c, 1);
  // The subscriber: every COMPLETED event's arrival time, by upload name.
  absl::Mutex mu;
  absl::flat_hash_map<std::string, absl::Time> accepted, received;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", Bearer(c));
  v1::WatchUploadsRequest req;
  req.set_parent(absl::StrCat("namespaces/", c.ns));
  req.set_from_now(true);
  auto reader = stubs[0]->WatchUploads(&ctx, req);
  std::atomic<size_t> seen{0};
  std::thread subscriber([&] {
    v1::UploadEvent e;
    while (reader->Read(&e)) {
      const absl::Time now = absl::Now();
      absl::MutexLock lock(&mu);
      received.emplace(e.upload().name(), now);
      if (++seen == callbacks.size()) break;
    }
  });
  absl::SleepFor(absl::Milliseconds(500));  // the stream is open before the first callback
  // Paced sends: callback i leaves at start + i / rate, from a few threads.
  const absl::Time start = absl::Now();
  std::atomic<size_t> next{0};
  std::atomic<int64_t> errors{0};
  auto worker = [&] {
    remote::CurlEasy easy(curl_easy_init());
    CURL* h = easy.get();
    for (size_t i = next++; i < callbacks.size(); i = next++) {
      const absl::Time due = start + absl::Seconds(static_cast<double>(i) / f.rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());
      const remote::CurlSlist headers = HeaderList(callbacks[i]);
      const long status = SendCallback(h, callbacks[i], headers.get());
      const absl::Time now = absl::Now();
      if (status != 200) {
        ++errors;
        continue;
      }
      absl::MutexLock lock(&mu);
      accepted.emplace(callbacks[i].upload_name, now);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double sent_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // Wait for the stragglers, then stop the subscriber.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (seen < callbacks.size() - errors && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(10));
  ctx.TryCancel();
  subscriber.join();
  std::vector<double> ms;
  int64_t missing = 0;
  absl::MutexLock lock(&mu);
  for (const auto& [name, t] : accepted) {
    auto it = received.find(name);
    if (it == received.end()) {
      ++missing;
      continue;
    }
    // The event may arrive before curl has read the 200: that counts as zero.
    ms.push_back(std::max(0.0, absl::ToDoubleMilliseconds(it->second - t)));
  }
  Json out = Percentiles(ms);
  out["achieved_rate_per_s"] = callbacks.size() / sent_seconds;
  out["errors"] = errors.load();
  out["missing_events"] = missing;
  return out;
}

// --- scenario 4: many streams -------------------------------------------------------------------

class CountingReader final : public grpc::ClientReadReactor<v1::UploadEvent> {
 public:
  CountingReader(v1::UploadService::Stub* stub, const Common& c, std::atomic<int>* started,
                 std::atomic<int>* received, std::atomic<int>* finished)
      : started_(started), received_(received), finished_(finished) {
    ctx_.AddMetadata("authorization", Bearer(c));
    req_.set_parent(absl::StrCat("namespaces/", c.ns));
    req_.set_from_now(true);
    stub->async()->WatchUploads(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadInitialMetadataDone(bool) override { ++*started_; }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++*received_;
    StartRead(&event_);
  }
  void OnDone(const grpc::Status&) override { ++*finished_; }
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  v1::WatchUploadsRequest req_;
  v1::UploadEvent event_;
  std::atomic<int>* started_;
  std::atomic<int>* received_;
  std::atomic<int>* finished_;
};

// CPU time (user + system) of a process so far, in milliseconds; -1 when unreadable.
double CpuMs(const std::string& pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t RssKb(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kb = 0;
      std::istringstream(line.substr(6)) >> kb;
      return kb;
    }
  }
  return -1;
}

Json RunStreams(const Common& c, const CallbackFlags& f, int streams, int service_pid) {
  CallbackFlags one = f;
  one.uploads = 1;
  std::vector<SignedCallback> callbacks = PrepareCallbacks(c, one);
  const int64_t rss_before = RssKb(service_pid);
  auto stubs = Stubs(c, std::max(1, streams / 100));
  std::atomic<int> started{0}, received{0}, finished{0};
  std::vector<std::unique_ptr<CountingReader>> readers;
  for (int i = 0; i < streams; ++i) {
    readers.push_back(std::make_unique<CountingReader>(stubs[i % stubs.size()].get(), c, &started,
                                                       &received, &finished));
  }
  // A stream is live once the service sent its headers (it does so right after subscribing).
  const absl::Time opening = absl::Now();
  const absl::Time open_deadline = opening + absl::Seconds(120);
  while (started < streams && absl::Now() < open_deadline) absl::SleepFor(absl::Milliseconds(10));
  const double open_s = absl::ToDoubleSeconds(absl::Now() - opening);
  // A marker for profilers, then time to attach before the event is sent.
  std::cerr << "ossup-load: " << started.load() << " streams live" << std::endl;
  absl::SleepFor(absl::Seconds(2));  // also lets allocations settle before reading RSS
  const int64_t rss_with_streams = RssKb(service_pid);
  remote::CurlEasy easy(curl_easy_init());
  const remote::CurlSlist headers = HeaderList(callbacks[0]);
  const double service_cpu0 = CpuMs(std::to_string(service_pid)), own_cpu0 = CpuMs("self");
  const absl::Time t0 = absl::Now();
  const long status = SendCallback(easy.get(), callbacks[0], headers.get());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (received < streams && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  const double fanout_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  // Where the fan-out's time went: both processes share the machine's cores.
  const double service_cpu_ms = CpuMs(std::to_string(service_pid)) - service_cpu0;
  const double own_cpu_ms = CpuMs("self") - own_cpu0;
  Json out = {{"streams", streams},
              {"callback_status", status},
              {"received", received.load()},
              {"live_streams", started.load()},
              {"seconds_to_open", open_s},
              {"fanout_ms", fanout_ms},
              {"fanout_service_cpu_ms", service_cpu_ms},
              {"fanout_load_generator_cpu_ms", own_cpu_ms},
              {"service_rss_mb_before", rss_before / 1024.0},
              {"service_rss_mb_with_streams", rss_with_streams / 1024.0},
              {"finished_early", finished.load()}};
  for (auto& r : readers) r->Cancel();
  while (finished < streams && absl::Now() < deadline + absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // As in the service: Debian's Abseil keeps Mutex deadlock detection on, and gRPC's locks are
  // Abseil mutexes; the load generator must not spend the shared cores on it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::Status st = remote::CurlGlobalInitOnce(); !st.ok()) {
    std::cerr << "ossup-load: " << st << "\n";
    return 1;
  }
  CLI::App app("ossup-load: load generator of the service benchmarks", "ossup-load");
  app.require_subcommand(1);
  Common c;
  CallbackFlags f;
  int streams = 10000, service_pid = 0;
  auto common = [&](CLI::App* s) {
    s->add_option("--target", c.target, "gRPC address");
    s->add_option("--token", c.token, "bearer token")->required();
    s->add_option("--namespace", c.ns, "namespace");
    s->add_option("--concurrency", c.concurrency, "requests in flight");
    s->add_option("--channels", c.channels, "gRPC connections");
    s->add_option("--cq-threads", c.cq_threads, "threads driving CreateUpload calls");
  };
  auto callbacks = [&](CLI::App* s) {
    s->add_option("--uploads", f.uploads, "uploads to complete");
    s->add_option("--key-pem", f.key_pem, "PEM private key the service has pinned")->required();
    s->add_option("--key-url", f.key_url, "the pinned key's URL")->required();
  };
  CLI::App* create = app.add_subcommand("create", "CreateUpload throughput and latency");
  common(create);
  create->add_option("--duration", c.duration, "measured time");
  create->add_option("--warmup", c.warmup, "unmeasured time first");
  CLI::App* cb = app.add_subcommand("callbacks", "signed callbacks at a concurrency");
  common(cb);
  callbacks(cb);
  CLI::App* lat = app.add_subcommand("latency", "callback accepted -> event received");
  common(lat);
  callbacks(lat);
  lat->add_option("--rate", f.rate, "callbacks per second");
  CLI::App* st = app.add_subcommand("streams", "one event to many WatchUploads streams");
  common(st);
  callbacks(st);
  st->add_option("--streams", streams, "concurrent streams");
  st->add_option("--service-pid", service_pid, "the service's pid, for its RSS")->required();
  CLI11_PARSE(app, argc, argv);

  Json out;
  if (create->parsed()) {
    const absl::Time start = absl::Now() + ParseDurationOrDie(c.warmup);
    CreateLoad load(c, start, start + ParseDurationOrDie(c.duration));
    out = load.Run();
  } else if (cb->parsed()) {
    out = RunCallbacks(c, f);
  } else if (lat->parsed()) {
    out = RunLatency(c, f);
  } else {
    out = RunStreams(c, f, streams, service_pid);
  }
  out["scenario"] = app.get_subcommands().front()->get_name();
  out["concurrency"] = c.concurrency;
  std::cout << out.dump() << std::endl;
  return 0;
}
