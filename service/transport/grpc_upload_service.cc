#include "service/transport/grpc_upload_service.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "service/common/status_macros.h"

namespace ossup::transport {
namespace v1 = ::ossup::upload::v1;
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kMaxWatchedUploads = 100;

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rem = micros % 1000000;
  if (rem < 0) {
    rem += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

// A client's Timestamp, within the range the proto defines (years 1-9999, nanos 0..999999999).
absl::StatusOr<absl::Time> FromTimestamp(absl::string_view field,
                                         const google::protobuf::Timestamp& ts) {
  using google::protobuf::util::TimeUtil;
  if (ts.seconds() < TimeUtil::kTimestampMinSeconds ||
      ts.seconds() > TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 || ts.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not a valid timestamp"));
  }
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

v1::Upload::State ToProtoState(domain::UploadState state) {
  switch (state) {
    case domain::UploadState::kPending:
      return v1::Upload::PENDING;
    case domain::UploadState::kCompleted:
      return v1::Upload::COMPLETED;
    case domain::UploadState::kRejected:
      return v1::Upload::REJECTED;
    case domain::UploadState::kExpired:
      return v1::Upload::EXPIRED;
    case domain::UploadState::kCancelled:
      return v1::Upload::CANCELLED;
  }
  return v1::Upload::STATE_UNSPECIFIED;
}

absl::StatusOr<domain::UploadState> FromProtoState(int state) {
  switch (state) {
    case v1::Upload::PENDING:
      return domain::UploadState::kPending;
    case v1::Upload::COMPLETED:
      return domain::UploadState::kCompleted;
    case v1::Upload::REJECTED:
      return domain::UploadState::kRejected;
    case v1::Upload::EXPIRED:
      return domain::UploadState::kExpired;
    case v1::Upload::CANCELLED:
      return domain::UploadState::kCancelled;
    default:
      return absl::InvalidArgumentError(absl::StrCat("states: unknown state ", state));
  }
}

v1::UploadEvent::Type ToProtoEventType(domain::EventType type) {
  switch (type) {
    case domain::EventType::kCompleted:
      return v1::UploadEvent::COMPLETED;
    case domain::EventType::kRejected:
      return v1::UploadEvent::REJECTED;
    case domain::EventType::kExpired:
      return v1::UploadEvent::EXPIRED;
    case domain::EventType::kCancelled:
      return v1::UploadEvent::CANCELLED;
    case domain::EventType::kLateCallback:
      return v1::UploadEvent::LATE_CALLBACK;
  }
  return v1::UploadEvent::TYPE_UNSPECIFIED;
}

absl::StatusOr<std::string> NamespaceOf(
    const absl::StatusOr<std::pair<std::string, std::string>>& name) {
  if (!name.ok()) return name.status();
  return name->first;
}

// Subject filters are compared with stored subjects (at most 256 bytes); longer ones can match
// nothing and are refused rather than sent to the database.
absl::Status CheckSubjectFilter(absl::string_view subject) {
  if (subject.size() > 256) return absl::InvalidArgumentError("subject: at most 256 bytes");
  return absl::OkStatus();
}

std::string UploadName(const domain::Upload& u) {
  return absl::StrCat("namespaces/", u.ns, "/uploads/", u.id);
}

// Streams one subscription: one write in flight, OnDone cleanup, cancellation (the callback API
// pattern of gRPC's route_guide_callback_server).
class WatchReactor final : public grpc::ServerWriteReactor<v1::UploadEvent> {
 public:
  WatchReactor(std::shared_ptr<events::Subscription> sub, GrpcMetrics* metrics)
      : sub_(std::move(sub)), metrics_(metrics), alive_(std::make_shared<Alive>()) {
    metrics_->active_streams.Add(1);
    alive_->reactor = this;
    // The hub calls this from its thread when events arrive; it must never touch a reactor that
    // OnDone has released, so it registers as a pending pump first.
    sub_->SetReadyCallback([alive = alive_] {
      WatchReactor* reactor;
      {
        absl::MutexLock lock(&alive->mu);
        if (alive->reactor == nullptr) return;
        reactor = alive->reactor;
        ++alive->pumps;
      }
      reactor->Pump();
      absl::MutexLock lock(&alive->mu);
      --alive->pumps;
    });
    // Headers now, not with the first event: the client learns the watch is live (subscribed,
    // nothing committed from here on will be missed) even when no event comes for a while.
    StartSendInitialMetadata();
    Pump();
  }

  void OnWriteDone(bool ok) override {
    if (ok) metrics_->events_streamed.Increment();
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finishing_) {
        finishing_ = finish = true;
        final_code_ = grpc::StatusCode::CANCELLED;
      }
    }
    if (finish) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    sub_->Cancel();
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (!finishing_ && !writing_) {
        finishing_ = finish = true;
        final_code_ = grpc::StatusCode::CANCELLED;
      }
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&alive_->mu);
      alive_->reactor = nullptr;
      alive_->mu.Await(absl::Condition(
          +[](Alive* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu) { return a->pumps == 0; },
          alive_.get()));
    }
    sub_->Cancel();
    metrics_->active_streams.Add(-1);
    grpc::StatusCode code;
    {
      absl::MutexLock lock(&mu_);
      code = final_code_;
    }
    metrics_->CountCall("WatchUploads", code);
    delete this;
  }

 private:
  struct Alive {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    int pumps ABSL_GUARDED_BY(mu) = 0;
  };

  // Starts the next write, or finishes with the subscription's end status. Decides under the lock,
  // calls into gRPC outside it.
  void Pump() {
    grpc::Status end;
    bool write = false, finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finishing_) return;
      std::vector<events::SharedEvent> next;
      const absl::Status st = sub_->Take(1, &next);
      if (!next.empty()) {
        msg_.Clear();
        ToProto(*next.front(), &msg_);
        writing_ = write = true;
      } else if (!st.ok()) {
        finishing_ = finish = true;
        end = ToGrpcStatus(st);
        final_code_ = end.error_code();
      }
    }
    if (write) StartWrite(&msg_);
    if (finish) Finish(end);
  }

  std::shared_ptr<events::Subscription> sub_;
  GrpcMetrics* const metrics_;
  std::shared_ptr<Alive> alive_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  // What the stream ended with (gRPC may also end it without our Finish, e.g. on shutdown).
  grpc::StatusCode final_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::CANCELLED;
  v1::UploadEvent msg_;
};

}  // namespace

GrpcMetrics::GrpcMetrics(metrics::Registry& registry)
    : requests(registry.AddCounter("ossup_grpc_requests_total",
                                   "gRPC calls finished, by method and status code.",
                                   {"method", "code"})),
      latency(registry.AddHistogram("ossup_grpc_request_duration_seconds",
                                    "Duration of unary gRPC calls, by method and status code.",
                                    {"method", "code"})),
      events_streamed(registry
                          .AddCounter("ossup_grpc_events_streamed_total",
                                      "Upload events written to WatchUploads streams.")
                          .WithLabels({})),
      active_streams(registry.AddGauge("ossup_grpc_active_streams", "Open WatchUploads streams.")
                         .WithLabels({})) {}

void GrpcMetrics::CountCall(absl::string_view method, grpc::StatusCode code,
                            const std::chrono::steady_clock::time_point* start) {
  const std::string code_name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(static_cast<int>(code)));
  requests.WithLabels({method, code_name}).Increment();
  if (start != nullptr) {
    latency.WithLabels({method, code_name})
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count());
  }
}

UploadServiceImpl::UploadServiceImpl(UploadServiceDeps deps)
    : deps_(std::move(deps)), metrics_(*metrics::GivenOrOwn(deps_.metrics, &own_registry_)) {
  if (deps_.hub == nullptr) return;
  metrics::Registry& registry = own_registry_ != nullptr ? *own_registry_ : *deps_.metrics;
  events::EventHub* hub = deps_.hub;
  registry.AddGaugeCallback(
      "ossup_event_hub_subscribers", "Subscriptions the event hub is feeding live.", {}, [hub] {
        return std::vector<metrics::Sample>{{{}, static_cast<double>(hub->subscriber_count())}};
      });
  registry.AddGaugeCallback(
      "ossup_event_hub_head_sequence", "The last event log sequence the event hub has read.", {},
      [hub] {
        return std::vector<metrics::Sample>{{{}, static_cast<double>(hub->head())}};
      });
  registry.AddCounterCallback(
      "ossup_event_hub_events_read_total", "Events the event hub has read from the log.", {},
      [hub] {
        return std::vector<metrics::Sample>{{{}, static_cast<double>(hub->events_read())}};
      });
  registry.AddCounterCallback(
      "ossup_event_hub_events_published_total",
      "Events the event hub took in from this process's own commits, without reading the log.", {},
      [hub] {
        return std::vector<metrics::Sample>{{{}, static_cast<double>(hub->events_published())}};
      });
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(status.code())),
                      std::string(status.message()));
}

void ToProto(const domain::Upload& u, v1::Upload* out) {
  out->set_name(UploadName(u));
  out->mutable_owner()->set_namespace_(u.ns);
  out->mutable_owner()->set_subject(u.subject);
  out->set_state(ToProtoState(u.state));
  out->set_bucket(u.bucket);
  out->set_object_key(u.object_key);
  auto* c = out->mutable_constraints();
  for (const auto& t : u.content_types) c->add_content_types(t);
  c->set_min_size(u.min_size);
  c->set_max_size(u.max_size);
  for (const auto& [k, v] : u.metadata) (*out->mutable_metadata())[k] = v;
  ToTimestamp(u.create_time, out->mutable_create_time());
  ToTimestamp(u.update_time, out->mutable_update_time());
  ToTimestamp(u.expire_time, out->mutable_expire_time());
  if (u.object.has_value()) {
    auto* o = out->mutable_object();
    o->set_bucket(u.object->bucket);
    o->set_key(u.object->key);
    o->set_size(u.object->size);
    o->set_content_type(u.object->content_type);
    o->set_etag(u.object->etag);
  }
  out->set_rejection_reason(u.rejection_reason);
  out->set_request_id(u.request_id);
}

void ToProto(const domain::UploadEvent& event, v1::UploadEvent* out) {
  out->set_sequence(event.sequence);
  out->set_type(ToProtoEventType(event.type));
  ToProto(event.upload, out->mutable_upload());
  ToTimestamp(event.event_time, out->mutable_event_time());
}

absl::StatusOr<std::string> ParseParent(absl::string_view field, absl::string_view parent) {
  absl::string_view ns = parent;
  if (!absl::ConsumePrefix(&ns, "namespaces/") || ns.empty() ||
      ns.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected 'namespaces/{namespace}', got '", parent, "'"));
  }
  return std::string(ns);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseUploadName(absl::string_view field,
                                                                    absl::string_view name) {
  const std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "namespaces" || parts[1].empty() || parts[2] != "uploads" ||
      parts[3].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": expected 'namespaces/{namespace}/uploads/{upload_id}', got '", name, "'"));
  }
  return std::make_pair(std::string(parts[1]), std::string(parts[3]));
}

absl::StatusOr<std::shared_ptr<const domain::Caller>> UploadServiceImpl::Authenticate(
    grpc::CallbackServerContext* ctx) const {
  const auto& metadata = ctx->client_metadata();
  const auto range = metadata.equal_range("authorization");
  if (range.first == range.second) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  if (std::next(range.first) != range.second) {
    return absl::UnauthenticatedError("more than one authorization metadata entry");
  }
  const auto& value = range.first->second;
  return deps_.callers->Authenticate(absl::string_view(value.data(), value.size()));
}

grpc::ServerUnaryReactor* UploadServiceImpl::RunUnaryAsync(
    absl::string_view method, grpc::CallbackServerContext* ctx, absl::string_view ns_field,
    absl::StatusOr<std::string> ns, std::function<void(const std::string&, Done)> start) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Counted and timed just before the answer leaves. `method` is a literal.
  Done finish = [this, reactor, method,
                 start_time = std::chrono::steady_clock::now()](const absl::Status& status) {
    const grpc::Status answer = ToGrpcStatus(status);
    metrics_.CountCall(method, answer.error_code(), &start_time);
    reactor->Finish(answer);
  };
  absl::StatusOr<std::string> authorized = AuthorizeNamespace(ctx, ns_field, std::move(ns));
  if (!authorized.ok()) {
    finish(authorized.status());
    return reactor;
  }
  start(*authorized, std::move(finish));
  return reactor;
}

absl::StatusOr<std::string> UploadServiceImpl::AuthorizeNamespace(
    grpc::CallbackServerContext* ctx, absl::string_view ns_field,
    absl::StatusOr<std::string> ns) const {
  OSSUP_ASSIGN_OR_RETURN(std::shared_ptr<const domain::Caller> caller, Authenticate(ctx));
  if (!ns.ok()) return ns.status();
  if (!caller->MayUse(*ns)) {
    return absl::PermissionDeniedError(
        absl::StrCat(ns_field, ": caller '", caller->name, "' may not use namespace '", *ns, "'"));
  }
  return ns;
}

grpc::ServerUnaryReactor* UploadServiceImpl::RunUnary(
    absl::string_view method, grpc::CallbackServerContext* ctx, absl::string_view ns_field,
    absl::StatusOr<std::string> ns, std::function<absl::Status(const std::string&)> work) {
  return RunUnaryAsync(
      method, ctx, ns_field, std::move(ns),
      [this, work = std::move(work)](const std::string& ns, Done done) {
        if (!deps_.pool->Submit([done, work, ns] { done(work(ns)); })) {
          done(absl::ResourceExhaustedError("the server is overloaded; retry with backoff"));
        }
      });
}

absl::StatusOr<domain::Upload> UploadServiceImpl::PrepareCreate(
    const v1::CreateUploadRequest& request, const std::string& ns, absl::Time now) {
  domain::CreateUploadInput in;
  in.ns = ns;
  in.subject = request.subject();
  if (request.key_case() == v1::CreateUploadRequest::kObjectKey) {
    in.object_key = request.object_key();
    if (in.object_key.empty()) return absl::InvalidArgumentError("object_key: must not be empty");
  } else if (request.key_case() == v1::CreateUploadRequest::kKeyTemplate) {
    in.key_prefix = request.key_template().prefix();
    in.file_name = request.key_template().file_name();
  }
  for (const auto& t : request.constraints().content_types()) in.content_types.push_back(t);
  in.min_size = request.constraints().min_size();
  in.max_size = request.constraints().max_size();
  if (request.has_ttl()) {
    using google::protobuf::util::TimeUtil;
    const auto& ttl = request.ttl();
    // The proto's range; seconds and nanos must not disagree in sign.
    if (ttl.seconds() < TimeUtil::kDurationMinSeconds ||
        ttl.seconds() > TimeUtil::kDurationMaxSeconds || ttl.nanos() <= -1'000'000'000 ||
        ttl.nanos() >= 1'000'000'000 || (ttl.seconds() > 0 && ttl.nanos() < 0) ||
        (ttl.seconds() < 0 && ttl.nanos() > 0)) {
      return absl::InvalidArgumentError("ttl: not a valid duration");
    }
    in.ttl = absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
  }
  for (const auto& [k, v] : request.metadata()) in.metadata.emplace_back(k, v);
  std::sort(in.metadata.begin(), in.metadata.end());
  in.bucket = request.bucket();
  in.request_id = request.request_id();
  OSSUP_RETURN_IF_ERROR(domain::ValidateCreateUpload(in, deps_.limits));

  const std::string id = domain::NewUploadId(*deps_.random);
  const std::string key =
      in.object_key.empty() ? domain::GenerateObjectKey(in.key_prefix, in.file_name, *deps_.random)
                            : in.object_key;
  return domain::NewPendingUpload(in, deps_.limits, id, key, deps_.issuer->CallbackToken(id), now);
}

absl::Status UploadServiceImpl::AnswerCreate(const storage::CreateResult& created, absl::Time now,
                                             v1::CreateUploadResponse* response) {
  OSSUP_ASSIGN_OR_RETURN(protocol::PostForm form, deps_.issuer->Issue(created.upload, now));
  ToProto(created.upload, response->mutable_upload());
  auto* out = response->mutable_form();
  out->set_url(form.url);
  for (const auto& f : form.fields) {
    auto* field = out->add_fields();
    field->set_name(f.name);
    field->set_value(f.value);
  }
  for (const auto& name : form.client_fields) out->add_client_fields(name);
  out->set_file_field(form.file_field);
  ToTimestamp(form.expiration, out->mutable_expire_time());
  return absl::OkStatus();
}

absl::Status UploadServiceImpl::DoCreate(const v1::CreateUploadRequest& request,
                                         const std::string& ns,
                                         v1::CreateUploadResponse* response) {
  const absl::Time now = deps_.clock->Now();
  OSSUP_ASSIGN_OR_RETURN(domain::Upload upload, PrepareCreate(request, ns, now));
  // The form is issued only once the row is committed.
  OSSUP_ASSIGN_OR_RETURN(storage::CreateResult created, deps_.store->Create(upload));
  return AnswerCreate(created, now, response);
}

grpc::ServerUnaryReactor* UploadServiceImpl::CreateUpload(grpc::CallbackServerContext* ctx,
                                                          const v1::CreateUploadRequest* request,
                                                          v1::CreateUploadResponse* response) {
  if (deps_.creates == nullptr) {
    return RunUnary("CreateUpload", ctx, "parent", ParseParent("parent", request->parent()),
                    [this, request, response](const std::string& ns) {
                      return DoCreate(*request, ns, response);
                    });
  }
  // Group commit without a waiting thread: validate and build the row here (CPU only), let the
  // batcher commit it with its neighbours, and answer from the committer thread. The form is
  // still issued only after the row is committed.
  return RunUnaryAsync(
      "CreateUpload", ctx, "parent", ParseParent("parent", request->parent()),
      [this, request, response](const std::string& ns, Done done) {
        const absl::Time now = deps_.clock->Now();
        absl::StatusOr<domain::Upload> upload = PrepareCreate(*request, ns, now);
        if (!upload.ok()) return done(upload.status());
        const bool queued = deps_.creates->CreateAsync(
            *std::move(upload),
            [this, response, done, now](absl::StatusOr<storage::CreateResult> created) {
              done(created.ok() ? AnswerCreate(*created, now, response) : created.status());
            });
        if (!queued)
          done(absl::ResourceExhaustedError("the server is overloaded; retry with backoff"));
      });
}

grpc::ServerUnaryReactor* UploadServiceImpl::GetUpload(grpc::CallbackServerContext* ctx,
                                                       const v1::GetUploadRequest* request,
                                                       v1::Upload* response) {
  const auto name = ParseUploadName("name", request->name());
  const std::string id = name.ok() ? name->second : "";
  return RunUnary("GetUpload", ctx, "name", NamespaceOf(name),
                  [this, response, id](const std::string& ns) -> absl::Status {
                    OSSUP_ASSIGN_OR_RETURN(domain::Upload upload, deps_.store->Get(ns, id));
                    ToProto(upload, response);
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* UploadServiceImpl::ListUploads(grpc::CallbackServerContext* ctx,
                                                         const v1::ListUploadsRequest* request,
                                                         v1::ListUploadsResponse* response) {
  return RunUnary(
      "ListUploads", ctx, "parent", ParseParent("parent", request->parent()),
      [this, request, response](const std::string& ns) -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError("page_size: must not be negative");
        }
        const int page_size = request->page_size() == 0
                                  ? kDefaultPageSize
                                  : std::min(request->page_size(), kMaxPageSize);
        OSSUP_RETURN_IF_ERROR(CheckSubjectFilter(request->subject()));
        storage::ListFilter filter;
        filter.subject = request->subject();
        // Five states exist; more entries can only be repeats.
        if (request->states_size() > 16) {
          return absl::InvalidArgumentError("states: at most 16 entries");
        }
        for (int s : request->states()) {
          OSSUP_ASSIGN_OR_RETURN(domain::UploadState state, FromProtoState(s));
          filter.states.push_back(state);
        }
        if (request->has_create_time_after()) {
          OSSUP_ASSIGN_OR_RETURN(filter.create_time_after,
                                 FromTimestamp("create_time_after", request->create_time_after()));
        }
        if (request->has_create_time_before()) {
          OSSUP_ASSIGN_OR_RETURN(
              filter.create_time_before,
              FromTimestamp("create_time_before", request->create_time_before()));
        }
        OSSUP_ASSIGN_OR_RETURN(storage::ListResult page,
                               deps_.store->List(ns, filter, page_size, request->page_token()));
        for (const auto& u : page.uploads) ToProto(u, response->add_uploads());
        response->set_next_page_token(page.next_page_token);
        response->set_event_sequence(page.event_sequence);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* UploadServiceImpl::CancelUpload(grpc::CallbackServerContext* ctx,
                                                          const v1::CancelUploadRequest* request,
                                                          v1::Upload* response) {
  const auto name = ParseUploadName("name", request->name());
  const std::string id = name.ok() ? name->second : "";
  return RunUnary("CancelUpload", ctx, "name", NamespaceOf(name),
                  [this, response, id](const std::string& ns) -> absl::Status {
                    OSSUP_ASSIGN_OR_RETURN(storage::TransitionResult result,
                                           deps_.store->Cancel(ns, id, deps_.clock->Now()));
                    ToProto(result.upload, response);
                    return absl::OkStatus();
                  });
}

grpc::ServerWriteReactor<v1::UploadEvent>* UploadServiceImpl::WatchUploads(
    grpc::CallbackServerContext* ctx, const v1::WatchUploadsRequest* request) {
  auto fail = [this](const absl::Status& status) {
    metrics_.CountCall("WatchUploads", ToGrpcStatus(status).error_code());
    class Failed final : public grpc::ServerWriteReactor<v1::UploadEvent> {
     public:
      explicit Failed(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Failed(ToGrpcStatus(status));
  };
  absl::StatusOr<std::string> ns =
      AuthorizeNamespace(ctx, "parent", ParseParent("parent", request->parent()));
  if (!ns.ok()) return fail(ns.status());
  events::SubscriptionFilter filter;
  filter.ns = *ns;
  if (absl::Status st = CheckSubjectFilter(request->subject()); !st.ok()) return fail(st);
  filter.subject = request->subject();
  if (request->upload_names_size() > kMaxWatchedUploads) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("upload_names: at most ", kMaxWatchedUploads, " uploads")));
  }
  for (const auto& name : request->upload_names()) {
    auto parsed = ParseUploadName("upload_names", name);
    if (!parsed.ok()) return fail(parsed.status());
    if (parsed->first != *ns) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("upload_names: '", name, "' is not in namespace '", *ns, "'")));
    }
    filter.upload_ids.insert(parsed->second);
  }
  const bool from_now = request->start_case() != v1::WatchUploadsRequest::kAfterSequence;
  if (!from_now && request->after_sequence() < 0) {
    return fail(absl::InvalidArgumentError("after_sequence: must not be negative"));
  }
  // Subscribing may read the database (retention check); the hub bounds catch-up work itself.
  auto sub =
      deps_.hub->Subscribe(std::move(filter), from_now ? 0 : request->after_sequence(), from_now);
  if (!sub.ok()) return fail(sub.status());
  return new WatchReactor(*std::move(sub), &metrics_);
}

}  // namespace ossup::transport
