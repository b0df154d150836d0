#include "service/transport/callback_endpoint.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "service/domain/upload_rules.h"
#include "service/protocol/callback_body.h"
#include "service/protocol/crypto.h"

namespace ossup::transport {
namespace {

HttpResponse Json(int status, nlohmann::json body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse Error(int status, absl::string_view message) {
  return Json(status, {{"error", std::string(message)}});
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    default:
      return 503;
  }
}

// One line per callback on stderr: enough to trace a CallbackFailed report from OSS.
void Log(const HttpRequest& req, int status, absl::string_view what, absl::Duration took) {
  std::fprintf(stderr, "callback %s %s -> %d %s (%lld ms)\n", req.peer.c_str(), req.target.c_str(),
               status, std::string(what).c_str(),
               static_cast<long long>(absl::ToInt64Milliseconds(took)));
}

// The method as a label: a small fixed set, whatever clients send.
absl::string_view MethodLabel(absl::string_view method) {
  for (absl::string_view known : {"GET", "HEAD", "POST"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

CallbackEndpoint::CallbackEndpoint(CallbackEndpointDeps deps, CallbackEndpointOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      registry_(metrics::GivenOrOwn(deps_.metrics, &own_registry_)),
      requests_(registry_->AddCounter("ossup_http_requests_total",
                                      "HTTP requests answered, by route, method and status code.",
                                      {"route", "method", "code"})),
      latency_(registry_->AddHistogram(
          "ossup_http_request_duration_seconds",
          "Time from receiving an HTTP request to answering it, by route and status code.",
          {"route", "code"})) {}

absl::string_view CallbackEndpoint::RouteLabel(absl::string_view path) const {
  if (!options_.callback_path.empty() && path == options_.callback_path) return "callback";
  if (path == "/healthz") return "healthz";
  if (path == "/readyz") return "readyz";
  if (path == "/metrics") return "metrics";
  return "other";
}

void CallbackEndpoint::Handle(HttpRequest request, HttpRespond respond) {
  const absl::string_view path =
      absl::string_view(request.target).substr(0, request.target.find('?'));
  // Counted just before the answer leaves, on whichever thread gives it. The labels are literals.
  HttpRespond counted = [this, route = RouteLabel(path), method = MethodLabel(request.method),
                         start = std::chrono::steady_clock::now(),
                         respond = std::move(respond)](HttpResponse response) {
    const std::string code = absl::StrCat(response.status);
    requests_.WithLabels({route, method, code}).Increment();
    latency_.WithLabels({route, code})
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    respond(std::move(response));
  };
  Route(std::move(request), std::move(counted));
}

void CallbackEndpoint::Route(HttpRequest request, HttpRespond respond) {
  const absl::string_view path =
      absl::string_view(request.target).substr(0, request.target.find('?'));
  if (request.method == "GET" && path == "/healthz") {
    respond(Json(200, {{"status", "ok"}}));
    return;
  }
  if (request.method == "GET" && path == "/readyz") {
    // A cached result, answered here: a probe must not wait in the worker queue behind real work.
    const absl::Status st = deps_.ready ? deps_.ready() : absl::OkStatus();
    respond(st.ok() ? Json(200, {{"status", "ready"}}) : Error(503, st.message()));
    return;
  }
  if (request.method == "GET" && path == "/metrics") {
    // Gauge callbacks may read the database (cached): off the I/O thread.
    if (!deps_.pool->Submit([this, respond] {
          HttpResponse r;
          r.content_type = std::string(metrics::kPrometheusContentType);
          r.body = registry_->Render();
          respond(std::move(r));
        })) {
      respond(Error(503, "overloaded"));
    }
    return;
  }
  if (options_.callback_path.empty() || path != options_.callback_path) {
    respond(Error(404, "not found"));
    return;
  }
  if (request.method != "POST") {
    HttpResponse r = Error(405, "use POST");
    r.headers.emplace_back("Allow", "POST");
    respond(std::move(r));
    return;
  }
  auto shared = std::make_shared<const HttpRequest>(std::move(request));
  // One thread hop less per callback when verification cannot block.
  if (!deps_.verifier->MayBlock()) return HandleCallback(std::move(shared), std::move(respond));
  if (!deps_.pool->Submit([this, shared, respond] { HandleCallback(shared, respond); })) {
    respond(Error(503, "overloaded"));
  }
}

void CallbackEndpoint::HandleCallback(std::shared_ptr<const HttpRequest> request,
                                      HttpRespond respond) {
  const HttpRequest& req = *request;
  // Logs and answers; callable from the committer thread too (it keeps the request alive).
  auto done = [request, respond, start = absl::Now()](HttpResponse r, absl::string_view what) {
    Log(*request, r.status, what, absl::Now() - start);
    respond(std::move(r));
  };

  // 1. The signature, over the raw target and body bytes, before anything is parsed.
  const protocol::CallbackVerification verified =
      deps_.verifier->Verify({req.target, req.headers, req.body});
  if (!verified.ok()) {
    const absl::Status st = verified.ToStatus();
    const int status = st.code() == absl::StatusCode::kUnavailable       ? 503
                       : st.code() == absl::StatusCode::kInternal        ? 500
                       : st.code() == absl::StatusCode::kInvalidArgument ? 400
                                                                         : 403;
    return done(Error(status, st.message()), st.message());
  }

  // 2. The body we bound: upload id, token, and OSS's substituted object facts.
  absl::StatusOr<const std::string*> content_type =
      protocol::FindUniqueHeader(req.headers, "content-type");
  if (!content_type.ok()) {
    return done(Error(400, content_type.status().message()), "duplicate content type");
  }
  absl::StatusOr<protocol::CallbackBodyType> type =
      protocol::CallbackBodyTypeFromContentType(*content_type ? **content_type : "");
  if (!type.ok()) return done(Error(400, type.status().message()), "bad content type");
  absl::StatusOr<protocol::CallbackBody> body = protocol::CallbackBody::Parse(*type, req.body);
  if (!body.ok()) return done(Error(400, body.status().message()), "bad body");
  absl::StatusOr<domain::CallbackPayload> payload = domain::ParseCallbackPayload(*body);
  if (!payload.ok()) return done(Error(400, payload.status().message()), "bad payload");

  // 3. The object as our own bucket has it: the truth, whatever the callback claims.
  const std::optional<domain::BucketConfig> bucket = deps_.issuer->bucket(payload->object.bucket);
  if (!bucket.has_value()) {
    return done(
        Error(409, absl::StrCat("bucket '", payload->object.bucket, "' is not one of ours")),
        "foreign bucket");
  }
  // Step 4, once the object is known: correlate and record (group-committed with concurrent
  // callbacks); answered from the committer thread once the batch committed.
  auto token_hash = protocol::Sha256(payload->token);
  if (!token_hash.ok()) return done(Error(500, token_hash.status().message()), "sha256");
  auto record = [this, done, upload_id = payload->upload_id,
                 token_hash = *std::move(token_hash)](const domain::ObjectInfo& object) {
    const bool queued = deps_.batcher->ApplyAsync(
        {upload_id, token_hash, object}, deps_.clock->Now(),
        [done](absl::StatusOr<storage::TransitionResult> result) {
          if (!result.ok()) {
            return done(Error(HttpStatusFor(result.status()), result.status().message()),
                        result.status().message());
          }
          const domain::Upload& upload = result->upload;
          nlohmann::json answer = {{"upload_id", upload.id},
                                   {"state", std::string(domain::UploadStateName(upload.state))}};
          if (upload.state == domain::UploadState::kRejected) {
            answer["reason"] = upload.rejection_reason;
            // The uploader must see this as a failure: OSS turns a non-200 into 203
            // CallbackFailed.
            return done(Json(409, answer), "rejected");
          }
          done(Json(200, answer), domain::UploadStateName(upload.state));
        });
    if (!queued) {
      done(Error(503, "overloaded: too many callbacks waiting for the database"), "queue");
    }
  };
  if (!options_.confirm_with_head_object) return record(payload->object);

  // 3. The object as our own bucket has it: the truth, whatever the callback claims. No thread
  // waits for OSS meanwhile; the answer continues on the OSS client's thread.
  deps_.oss->HeadObjectAsync(
      {bucket->scheme, bucket->endpoint_host, bucket->virtual_hosted, bucket->region},
      bucket->credentials, bucket->name, payload->object.key, options_.head_timeout,
      [done, record, object = payload->object](absl::StatusOr<remote::ObjectHead> head) mutable {
        if (!head.ok()) {
          if (head.status().code() == absl::StatusCode::kNotFound) {
            return done(Error(409, "the reported object is not in our bucket"), "object missing");
          }
          return done(Error(503, head.status().message()), "HeadObject failed");
        }
        object.size = head->size;
        object.etag = head->etag;
        if (!head->content_type.empty()) object.content_type = head->content_type;
        record(object);
      });
}

}  // namespace ossup::transport
