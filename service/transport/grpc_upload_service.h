#ifndef OSSUP_SERVICE_TRANSPORT_GRPC_UPLOAD_SERVICE_H_
#define OSSUP_SERVICE_TRANSPORT_GRPC_UPLOAD_SERVICE_H_

#include <chrono>
#include <memory>

#include "ossup/upload/v1/upload_service.grpc.pb.h"
#include "service/common/clock.h"
#include "service/common/metrics.h"
#include "service/common/random.h"
#include "service/common/thread_pool.h"
#include "service/domain/callers.h"
#include "service/domain/form_issuer.h"
#include "service/domain/upload_rules.h"
#include "service/events/event_hub.h"
#include "service/storage/callback_batcher.h"
#include "service/storage/upload_store.h"

namespace ossup::transport {

struct UploadServiceDeps {
  storage::UploadStore* store = nullptr;
  // Group commit for creates; when null, each create is its own INSERT.
  storage::CreateBatcher* creates = nullptr;
  events::EventHub* hub = nullptr;
  const domain::CallerRegistry* callers = nullptr;
  const domain::FormIssuer* issuer = nullptr;
  domain::UploadLimits limits;
  const Clock* clock = nullptr;
  Random* random = nullptr;
  // Blocking work (database) runs here, never on gRPC's threads.
  ThreadPool* pool = nullptr;
  // Where the service and the hub register their series; a private registry when null.
  metrics::Registry* metrics = nullptr;
};

// The series of the gRPC side. Calls are counted by method and status code name when they
// finish; unary calls are also timed (streams live too long for a latency histogram).
struct GrpcMetrics {
  explicit GrpcMetrics(metrics::Registry& registry);
  // Counts a finished call; times it too when `start` is given.
  void CountCall(absl::string_view method, grpc::StatusCode code,
                 const std::chrono::steady_clock::time_point* start = nullptr);

  metrics::CounterFamily& requests;
  metrics::HistogramFamily& latency;
  metrics::Counter& events_streamed;
  metrics::Gauge& active_streams;
};

// ossup.upload.v1.UploadService on gRPC's callback API. Every call is authenticated by a bearer
// token and confined to the namespaces its caller may use; errors carry canonical codes and name
// the offending field.
class UploadServiceImpl final : public ossup::upload::v1::UploadService::CallbackService {
 public:
  explicit UploadServiceImpl(UploadServiceDeps deps);

  grpc::ServerUnaryReactor* CreateUpload(
      grpc::CallbackServerContext* ctx, const ossup::upload::v1::CreateUploadRequest* request,
      ossup::upload::v1::CreateUploadResponse* response) override;
  grpc::ServerUnaryReactor* GetUpload(grpc::CallbackServerContext* ctx,
                                      const ossup::upload::v1::GetUploadRequest* request,
                                      ossup::upload::v1::Upload* response) override;
  grpc::ServerUnaryReactor* ListUploads(grpc::CallbackServerContext* ctx,
                                        const ossup::upload::v1::ListUploadsRequest* request,
                                        ossup::upload::v1::ListUploadsResponse* response) override;
  grpc::ServerUnaryReactor* CancelUpload(grpc::CallbackServerContext* ctx,
                                         const ossup::upload::v1::CancelUploadRequest* request,
                                         ossup::upload::v1::Upload* response) override;
  grpc::ServerWriteReactor<ossup::upload::v1::UploadEvent>* WatchUploads(
      grpc::CallbackServerContext* ctx,
      const ossup::upload::v1::WatchUploadsRequest* request) override;

 private:
  // Authenticates, checks the namespace, then runs `work(ns)` on the pool and finishes the call.
  // `method` names the call in metrics.
  grpc::ServerUnaryReactor* RunUnary(absl::string_view method, grpc::CallbackServerContext* ctx,
                                     absl::string_view ns_field, absl::StatusOr<std::string> ns,
                                     std::function<absl::Status(const std::string& ns)> work);
  // The same, but `start(ns, done)` runs on the gRPC thread and must not block: it calls `done`
  // exactly once, from any thread, when the answer is ready (CreateUpload's group commit).
  using Done = std::function<void(const absl::Status&)>;
  grpc::ServerUnaryReactor* RunUnaryAsync(
      absl::string_view method, grpc::CallbackServerContext* ctx, absl::string_view ns_field,
      absl::StatusOr<std::string> ns, std::function<void(const std::string& ns, Done done)> start);
  absl::StatusOr<std::shared_ptr<const domain::Caller>> Authenticate(
      grpc::CallbackServerContext* ctx) const;
  // Authenticates the call and checks that the caller may use `ns` (parsed from `ns_field`):
  // the namespace, or the error to answer with.
  absl::StatusOr<std::string> AuthorizeNamespace(grpc::CallbackServerContext* ctx,
                                                 absl::string_view ns_field,
                                                 absl::StatusOr<std::string> ns) const;

  absl::Status DoCreate(const ossup::upload::v1::CreateUploadRequest& request,
                        const std::string& ns, ossup::upload::v1::CreateUploadResponse* response);
  // CreateUpload in two halves around the row's commit: the validated new row, then the answer.
  absl::StatusOr<domain::Upload> PrepareCreate(
      const ossup::upload::v1::CreateUploadRequest& request, const std::string& ns, absl::Time now);
  absl::Status AnswerCreate(const storage::CreateResult& created, absl::Time now,
                            ossup::upload::v1::CreateUploadResponse* response);

  const UploadServiceDeps deps_;
  std::unique_ptr<metrics::Registry> own_registry_;  // when deps_.metrics is null
  GrpcMetrics metrics_;
};

// absl::Status -> grpc::Status (the canonical codes share their numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

// domain -> API resource.
void ToProto(const domain::Upload& upload, ossup::upload::v1::Upload* out);
void ToProto(const domain::UploadEvent& event, ossup::upload::v1::UploadEvent* out);

// "namespaces/{ns}" -> ns; "namespaces/{ns}/uploads/{id}" -> {ns, id}. InvalidArgument naming
// `field` otherwise.
absl::StatusOr<std::string> ParseParent(absl::string_view field, absl::string_view parent);
absl::StatusOr<std::pair<std::string, std::string>> ParseUploadName(absl::string_view field,
                                                                    absl::string_view name);

}  // namespace ossup::transport

#endif  // OSSUP_SERVICE_TRANSPORT_GRPC_UPLOAD_SERVICE_H_
