// oss-upload-orchestrator: the gRPC API and the OSS callback endpoint in one binary.
//   --role=all       both (default)
//   --role=grpc      the gRPC API (internal port); its HTTP port has only /healthz, /readyz,
//   /metrics
//   --role=callback  the callback endpoint only (the internet-facing sidecar)
// Both roles talk to PostgreSQL directly. See docs/configuration.md.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pqxx/nontransaction"
#include "pqxx/result"
#include "service/app/config.h"
#include "service/common/clock.h"
#include "service/common/metrics.h"
#include "service/common/random.h"
#include "service/common/thread_name.h"
#include "service/common/thread_pool.h"
#include "service/domain/callers.h"
#include "service/domain/form_issuer.h"
#include "service/events/event_hub.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/public_key.h"
#include "service/remote/oss_client.h"
#include "service/remote/public_key_fetcher.h"
#include "service/storage/callback_batcher.h"
#include "service/storage/database.h"
#include "service/storage/event_listener.h"
#include "service/storage/migrations.h"
#include "service/storage/readiness.h"
#include "service/storage/upload_store.h"
#include "service/transport/callback_endpoint.h"
#include "service/transport/grpc_upload_service.h"
#include "service/transport/http_server.h"

ABSL_FLAG(std::string, config, "", "path of the JSON configuration file (env: OSSUP_CONFIG)");
ABSL_FLAG(std::string, role, "", "all | grpc | callback (env: OSSUP_ROLE; default all)");

namespace ossup {
namespace {

int Fail(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "fatal: %s: %s\n", std::string(what).c_str(), status.ToString().c_str());
  return 1;
}

// The event log as the hub reads it: every namespace.
class StoreEventSource final : public events::EventSource {
 public:
  explicit StoreEventSource(storage::UploadStore* store) : store_(store) {}
  absl::StatusOr<std::vector<domain::UploadEvent>> ReadAfter(int64_t after, int limit) override {
    absl::StatusOr<storage::EventPage> page = store_->ReadEvents(after, limit, {});
    if (!page.ok()) return page.status();
    return std::move(page->events);
  }
  absl::StatusOr<int64_t> LastSequence() override { return store_->LastSequence(); }
  absl::StatusOr<int64_t> OldestRetainedSequence() override {
    return store_->OldestRetainedSequence();
  }

 private:
  storage::UploadStore* store_;
};

// Coalesces "events committed" into at most one NOTIFY per interval, sent outside the hot
// transactions (a notifying commit serializes on a database-wide lock; see the yardsticks).
class Notifier {
 public:
  // `origin` names this process in the NOTIFY payload, so its own listener ignores the echo.
  Notifier(storage::Database* db, absl::Duration interval, std::string origin)
      : db_(db), interval_(interval), origin_(std::move(origin)) {
    thread_ = NamedThread("ossup-notify", [this] { Run(); });
  }
  ~Notifier() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  void Poke() {
    absl::MutexLock lock(&mu_);
    pending_ = true;
  }

 private:
  void Run() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Notifier* n)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(n->mu_) { return n->pending_ || n->stopping_; },
            this));
        if (stopping_) return;
        pending_ = false;
      }
      (void)db_->WithConnection(
          [this](pqxx::connection& conn) { return storage::Notify(conn, origin_); });
      absl::SleepFor(interval_);
    }
  }
  storage::Database* db_;
  const absl::Duration interval_;
  const std::string origin_;
  absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Runs `tick` every `interval` on its own thread until destroyed.
class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> tick, const char* thread_name)
      : interval_(interval),
        tick_(std::move(tick)),
        thread_(NamedThread(thread_name, [this] { Run(); })) {}
  ~PeriodicTask() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
      }
      tick_();
    }
  }
  const absl::Duration interval_;
  const std::function<void()> tick_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Expires overdue uploads and purges old events, on every replica (rows are claimed with
// SKIP LOCKED, so sweepers do not collide).
std::unique_ptr<PeriodicTask> StartSweeper(storage::UploadStore* store, const Clock* clock,
                                           absl::Duration interval, absl::Duration retention) {
  return std::make_unique<PeriodicTask>(
      interval,
      [store, clock, retention, next_purge = absl::InfinitePast()]() mutable {
        const absl::Time now = clock->Now();
        absl::StatusOr<int> expired = store->ExpireDue(now, 500);
        if (!expired.ok()) {
          std::fprintf(stderr, "sweeper: %s\n", expired.status().ToString().c_str());
        }
        if (now >= next_purge) {
          (void)store->PurgeEventsBefore(now - retention);
          next_purge = now + absl::Minutes(10);
        }
      },
      "ossup-sweeper");
}

// Uploads per state, every state present (zero when none).
absl::StatusOr<std::vector<metrics::Sample>> CountUploadsByState(storage::Database& db) {
  std::map<int, int64_t> counts;
  const absl::Status status = db.WithConnection(
      [&counts](pqxx::connection& conn) {
        counts.clear();
        pqxx::nontransaction txn(conn, "uploads_by_state");
        for (const auto& row : txn.exec("SELECT state, count(*) FROM uploads GROUP BY state")) {
          counts[row[0].as<int>()] = row[1].as<int64_t>();
        }
        return absl::OkStatus();
      },
      storage::Database::OnBroken::kRetryOnce);
  if (!status.ok()) return status;
  std::vector<metrics::Sample> samples;
  for (domain::UploadState state : {domain::UploadState::kPending, domain::UploadState::kCompleted,
                                    domain::UploadState::kRejected, domain::UploadState::kExpired,
                                    domain::UploadState::kCancelled}) {
    samples.push_back({{std::string(domain::UploadStateName(state))},
                       static_cast<double>(counts[static_cast<int>(state)])});
  }
  return samples;
}

// Size and duration of every group-commit transaction, labelled by what it writes ("creates",
// "callbacks"): small batches and long commits are what bound create and callback throughput.
class GroupCommitMetrics {
 public:
  explicit GroupCommitMetrics(metrics::Registry& registry)
      : items_(registry.AddHistogram("ossup_group_commit_items",
                                     "Items committed per group-commit transaction.", {"writes"},
                                     {1, 2, 4, 8, 16, 32, 64, 128})),
        duration_(registry.AddHistogram(
            "ossup_group_commit_duration_seconds",
            "Duration of group-commit transactions, their WAL flush included.", {"writes"},
            {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})) {}

  // The observer for GroupCommitOptions::on_batch of the batcher that writes `writes`.
  std::function<void(int, absl::Duration)> ObserverFor(absl::string_view writes) {
    metrics::Histogram& items = items_.WithLabels({writes});
    metrics::Histogram& duration = duration_.WithLabels({writes});
    return [&items, &duration](int n, absl::Duration commit) {
      items.Observe(n);
      duration.ObserveDuration(commit);
    };
  }

 private:
  metrics::HistogramFamily& items_;
  metrics::HistogramFamily& duration_;
};

// Pool and upload gauges; the transports register their own series.
void RegisterStorageMetrics(metrics::Registry& registry, storage::Database& db,
                            metrics::CachedCollector& uploads_by_state) {
  auto pool_gauge = [&registry, &db](absl::string_view name, absl::string_view help,
                                     int storage::Database::PoolStats::*field) {
    registry.AddGaugeCallback(name, help, {}, [&db, field] {
      return std::vector<metrics::Sample>{{{}, static_cast<double>(db.Stats().*field)}};
    });
  };
  pool_gauge("ossup_db_pool_max_connections", "Size of the database connection pool.",
             &storage::Database::PoolStats::max);
  pool_gauge("ossup_db_pool_open_connections", "Database connections open (idle or leased).",
             &storage::Database::PoolStats::open);
  pool_gauge("ossup_db_pool_idle_connections", "Database connections open and free.",
             &storage::Database::PoolStats::idle);
  pool_gauge("ossup_db_pool_leased_connections", "Database connections in use.",
             &storage::Database::PoolStats::leased);
  registry.AddGaugeCallback("ossup_uploads",
                            "Uploads in the database by state (refreshed at most every 5 s).",
                            {"state"}, [&uploads_by_state] { return uploads_by_state.Get(); });
}

// Re-reads the caller tokens and bucket secrets every few seconds and applies changes (a mounted
// Kubernetes Secret is updated in place). A bad new file is reported and the old values stay.
class SecretWatcher {
 public:
  SecretWatcher(const app::Config& config, domain::CallerRegistry* callers,
                domain::FormIssuer* issuer)
      : config_(config), callers_(callers), issuer_(issuer) {
    last_callers_ = config.callers_json;
    for (const auto& b : config.buckets) {
      last_secrets_.push_back(b.credentials.access_key_secret + "\n" +
                              b.credentials.security_token);
    }
    task_ = std::make_unique<PeriodicTask>(
        absl::Seconds(5), [this] { Check(); }, "ossup-secrets");
  }

 private:
  void Check() {
    if (auto text = app::ReadFile(config_.callers_file, 1 << 20);
        text.ok() && *text != last_callers_) {
      const absl::Status st = callers_->Reload(*text);
      std::fprintf(stderr, "secrets: callers file changed: %s\n",
                   st.ok() ? "reloaded" : st.ToString().c_str());
      last_callers_ = *text;
    }
    for (size_t i = 0; i < config_.buckets.size(); ++i) {
      auto text = app::ReadFile(config_.bucket_secret_files[i], 4096);
      if (!text.ok()) continue;
      protocol::Credentials creds = config_.buckets[i].credentials;
      creds.access_key_secret = std::string(absl::StripAsciiWhitespace(*text));
      if (!config_.bucket_token_files[i].empty()) {
        auto token = app::ReadFile(config_.bucket_token_files[i], 16384);
        if (!token.ok()) continue;
        creds.security_token = std::string(absl::StripAsciiWhitespace(*token));
      }
      const std::string secret = creds.access_key_secret + "\n" + creds.security_token;
      if (secret == last_secrets_[i]) continue;
      const absl::Status st = issuer_->SetCredentials(config_.buckets[i].name, creds);
      std::fprintf(stderr, "secrets: bucket %s secret changed: %s\n",
                   config_.buckets[i].name.c_str(), st.ok() ? "reloaded" : st.ToString().c_str());
      last_secrets_[i] = secret;
    }
  }
  const app::Config& config_;
  domain::CallerRegistry* callers_;
  domain::FormIssuer* issuer_;
  std::string last_callers_;
  std::vector<std::string> last_secrets_;
  std::unique_ptr<PeriodicTask> task_;  // last: stopped first
};

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials(const app::Config& c) {
  if (c.tls_cert_file.empty() && c.tls_key_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> key = ReadWhole(c.tls_key_file);
  absl::StatusOr<std::string> cert = ReadWhole(c.tls_cert_file);
  if (!key.ok()) return key.status();
  if (!cert.ok()) return cert.status();
  pair.private_key = *key;
  pair.cert_chain = *cert;
  ssl.pem_key_cert_pairs.push_back(pair);
  if (!c.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadWhole(c.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // A flag wins over its environment variable, which wins over the default.
  auto flag_or_env = [](const std::string& flag, const char* env, const char* fallback) {
    if (!flag.empty()) return flag;
    const char* v = std::getenv(env);
    return std::string(v != nullptr && *v != '\0' ? v : fallback);
  };
  const std::string role = flag_or_env(absl::GetFlag(FLAGS_role), "OSSUP_ROLE", "all");
  const std::string config_path = flag_or_env(absl::GetFlag(FLAGS_config), "OSSUP_CONFIG", "");
  if (role != "all" && role != "grpc" && role != "callback") {
    return Fail("--role", absl::InvalidArgumentError("must be all, grpc or callback"));
  }
  const bool serve_grpc = role != "callback";
  const bool serve_callback = role != "grpc";

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<app::Config> config = app::LoadConfig(config_path);
  if (!config.ok()) return Fail("configuration", config.status());

  const Clock& clock = RealClock::Get();
  SecureRandom random;
  absl::StatusOr<std::unique_ptr<domain::CallerRegistry>> callers =
      domain::CallerRegistry::FromJson(config->callers_json);
  if (!callers.ok()) return Fail("callers file", callers.status());
  absl::StatusOr<std::unique_ptr<domain::FormIssuer>> issuer =
      domain::FormIssuer::Create(config->buckets, config->callback, config->token_key);
  if (!issuer.ok()) return Fail("buckets/callback", issuer.status());

  metrics::Registry registry;
  storage::DatabaseOptions db_options;
  db_options.dsn = config->database_url;
  db_options.pool_size = config->database_pool_size;
  // Read on every new connection: a rotated password file needs no restart.
  std::function<std::string()> db_password;
  if (!config->database_password_file.empty()) {
    db_password = [file = config->database_password_file] {
      auto text = app::ReadFile(file, 4096);
      return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : std::string();
    };
  }
  db_options.password = db_password;
  storage::Database db(db_options);
  if (absl::Status st =
          db.WithConnection([](pqxx::connection& conn) { return storage::Migrate(conn); },
                            storage::Database::OnBroken::kRetryOnce);
      !st.ok()) {
    return Fail("database migration", st);
  }

  // Scrapes read the database at most every 5 s, on the endpoint's pool.
  metrics::CachedCollector uploads_by_state([&db] { return CountUploadsByState(db); },
                                            absl::Seconds(5), &clock);
  RegisterStorageMetrics(registry, db, uploads_by_state);
  GroupCommitMetrics group_commit_metrics(registry);

  // Declared before everything its jobs use, and drained explicitly at shutdown (below) while
  // those objects still exist.
  auto worker_pool = std::make_unique<ThreadPool>(config->worker_threads, 20000, "ossup-worker");
  ThreadPool& pool = *worker_pool;
  std::unique_ptr<events::EventHub> hub;
  storage::UploadStoreOptions store_options;
  store_options.expiry_grace = config->expiry_grace;
  // This process's name in its NOTIFYs: its own commits wake its hub directly (below), so its
  // listener skips their echo, which would only cost another read of the event log.
  const std::string notify_origin = absl::BytesToHexString(random.Bytes(8));
  Notifier notifier(&db, absl::Milliseconds(2), notify_origin);
  store_options.on_events_committed = [&notifier] { notifier.Poke(); };
  if (serve_grpc) {
    // This replica's subscribers get its own commits without a NOTIFY round trip, and without
    // the hub reading back what was just written.
    store_options.publish_committed_events = [&hub](std::vector<domain::UploadEvent> events) {
      if (hub) hub->Publish(std::move(events));
    };
  }
  storage::UploadStore store(&db, store_options);
  StoreEventSource source(&store);

  std::unique_ptr<storage::EventListener> listener;
  std::unique_ptr<storage::CreateBatcher> creates;
  std::unique_ptr<transport::UploadServiceImpl> service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<PeriodicTask> sweeper;
  if (serve_grpc) {
    hub = std::make_unique<events::EventHub>(&source, events::EventHubOptions{});
    if (absl::Status st = hub->Start(); !st.ok()) return Fail("event hub", st);
    storage::EventListenerOptions listen_options;
    listen_options.dsn = config->database_url;
    listen_options.password = db_password;
    listen_options.ignore_origin = notify_origin;
    listener = std::make_unique<storage::EventListener>(listen_options, [&hub] { hub->Wake(); });
    if (absl::Status st = listener->Start(); !st.ok()) return Fail("event listener", st);
    // Concurrent creates share one INSERT and one WAL flush; two transactions in flight keep the
    // pipeline full while one waits for its flush.
    creates = std::make_unique<storage::CreateBatcher>(
        &store,
        storage::GroupCommitOptions{.max_batch = 64,
                                    .committers = 2,
                                    .thread_name = "ossup-creates",
                                    .on_batch = group_commit_metrics.ObserverFor("creates")});

    transport::UploadServiceDeps deps;
    deps.store = &store;
    deps.creates = creates.get();
    deps.hub = hub.get();
    deps.callers = callers->get();
    deps.issuer = issuer->get();
    deps.limits = config->limits;
    deps.clock = &clock;
    deps.random = &random;
    deps.pool = &pool;
    deps.metrics = &registry;
    service = std::make_unique<transport::UploadServiceImpl>(deps);

    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = GrpcCredentials(*config);
    if (!creds.ok()) return Fail("gRPC TLS", creds.status());
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(config->grpc_listen, *creds, &port);
    // A second server on the same port must fail, not share it silently.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Clients keep idle watch streams alive with pings (ossup::client pings every 30 s); accept
    // them instead of answering GOAWAY "too_many_pings".
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
    builder.RegisterService(service.get());
    grpc_server = builder.BuildAndStart();
    if (!grpc_server || port == 0) {
      return Fail("gRPC",
                  absl::UnavailableError(absl::StrCat("cannot listen on ", config->grpc_listen)));
    }
    grpc_server->GetHealthCheckService()->SetServingStatus("ossup.upload.v1.UploadService", true);
    const std::string host = config->grpc_listen.substr(0, config->grpc_listen.rfind(':'));
    std::printf("ossup grpc listening on %s:%d\n", host.c_str(), port);
    sweeper = StartSweeper(&store, &clock, config->expiry_sweep_interval, config->event_retention);
  }

  std::unique_ptr<remote::PublicKeyFetcher> fetcher;
  std::unique_ptr<protocol::PinnedKeyProvider> keys;
  std::unique_ptr<protocol::CallbackVerifier> verifier;
  std::unique_ptr<remote::CurlOssClient> oss;
  // Checked every second on its own thread; /readyz answers from the last result, so a probe
  // neither queues behind real work nor waits for a connection. Outlives the endpoint.
  storage::ReadinessCheck readiness(&db, storage::ReadinessOptions{});
  (void)readiness.Refresh();
  PeriodicTask readiness_checker(
      absl::Seconds(1), [&readiness] { (void)readiness.Refresh(); }, "ossup-readiness");
  std::unique_ptr<storage::CallbackBatcher> batcher;
  std::unique_ptr<transport::CallbackEndpoint> endpoint;
  std::unique_ptr<transport::HttpServer> http;
  if (serve_callback) {
    const std::vector<std::string> prefixes = config->key_url_prefixes.empty()
                                                  ? protocol::DefaultKeyUrlPrefixes()
                                                  : config->key_url_prefixes;
    if (absl::Status st = protocol::ValidateKeyUrlPrefixes(prefixes); !st.ok()) {
      return Fail("callback_keys.allowed_url_prefixes", st);
    }
    if (config->fetch_unpinned_keys) {
      remote::PublicKeyFetcherOptions fetch;
      fetch.allowed_key_url_prefixes = prefixes;
      fetch.allow_insecure_http = config->allow_insecure_key_fetch;
      absl::StatusOr<std::unique_ptr<remote::PublicKeyFetcher>> created =
          remote::PublicKeyFetcher::Create(fetch);
      if (!created.ok()) return Fail("key fetcher", created.status());
      fetcher = *std::move(created);
    }
    // Production default: only pinned keys (OSS's built in), no fetching at all.
    keys = std::make_unique<protocol::PinnedKeyProvider>(fetcher.get());
    for (const app::PinnedKey& pin : config->pinned_keys) {
      if (absl::Status st = keys->AddPin(pin.url, pin.pem); !st.ok()) {
        return Fail("callback_keys.pins", st);
      }
    }
    protocol::CallbackVerifierOptions verify;
    verify.allowed_key_url_prefixes = prefixes;
    verify.max_body_bytes = config->max_callback_body_bytes;
    verifier = std::make_unique<protocol::CallbackVerifier>(keys.get(), verify);
    remote::CurlOssClientOptions oss_options;
    oss_options.max_in_flight = config->head_object_max_in_flight;
    oss_options.max_connections_per_host = config->head_object_max_connections_per_host;
    absl::StatusOr<std::unique_ptr<remote::CurlOssClient>> client =
        remote::CurlOssClient::Create(&clock, oss_options);
    if (!client.ok()) return Fail("OSS client", client.status());
    oss = *std::move(client);
    registry.AddGaugeCallback(
        "ossup_oss_head_requests_in_flight",
        absl::StrCat("HeadObject confirmations waiting for OSS (beyond ", oss->max_in_flight(),
                     " a callback is answered 503)."),
        {}, [client = oss.get()] {
          return std::vector<metrics::Sample>{{{}, static_cast<double>(client->InFlight())}};
        });
    storage::CallbackBatcherOptions batcher_options = storage::DefaultCallbackBatcherOptions();
    batcher_options.on_batch = group_commit_metrics.ObserverFor("callbacks");
    batcher = std::make_unique<storage::CallbackBatcher>(&store, &domain::CheckObjectAgainstUpload,
                                                         batcher_options);
  }
  {
    // Every role serves /healthz, /readyz and /metrics; only the callback roles take callbacks
    // (with --role=grpc the callback route does not exist and answers 404).
    transport::CallbackEndpointDeps deps;
    deps.verifier = verifier.get();
    deps.batcher = batcher.get();
    deps.issuer = issuer->get();
    deps.oss = oss.get();
    deps.clock = &clock;
    deps.pool = &pool;
    deps.ready = [&readiness] { return readiness.Current(); };
    deps.metrics = &registry;
    transport::CallbackEndpointOptions options;
    options.callback_path = serve_callback ? config->callback_path : "";
    options.confirm_with_head_object = config->confirm_with_head_object;
    endpoint = std::make_unique<transport::CallbackEndpoint>(deps, options);

    transport::HttpServerOptions http_options;
    http_options.address = config->http_listen_address;
    http_options.port = static_cast<uint16_t>(config->http_port);
    http_options.max_body_bytes = config->max_callback_body_bytes;
    absl::StatusOr<std::unique_ptr<transport::HttpServer>> started = transport::HttpServer::Start(
        http_options, [&endpoint](transport::HttpRequest req, transport::HttpRespond respond) {
          endpoint->Handle(std::move(req), std::move(respond));
        });
    if (!started.ok()) return Fail("HTTP", started.status());
    http = *std::move(started);
    std::printf("ossup http listening on %s:%d\n", config->http_listen_address.c_str(),
                http->port());
  }
  SecretWatcher secrets(*config, callers->get(), issuer->get());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "ossup: signal %d, shutting down\n", signal_number);
  // Streams first (they end with UNAVAILABLE and a resume point), then the servers.
  if (hub) hub->Stop();
  if (grpc_server)
    grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  // Queued creates answer through the gRPC service: finish them while it still exists.
  creates.reset();
  if (http) http->Shutdown();
  // Finish queued callbacks and calls now, while the store, batcher and endpoint still exist:
  // the pool's, then the confirmations waiting for OSS (each within its timeout).
  worker_pool.reset();
  oss.reset();
  // Then the callbacks those handed to the batcher, while the endpoint that answers them exists.
  batcher.reset();
  sweeper.reset();
  if (listener) listener->Stop();
  return 0;
}

}  // namespace
}  // namespace ossup

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: every lock
  // of a Mutex then looks it up in a process-wide graph under a global lock. With one Mutex per
  // watch stream that dominated delivering an event to 10,000 streams (perf). The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return ossup::Main(argc, argv);
}
