#include "service/storage/storage_test_util.h"

#include <cstdlib>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pqxx/connection"
#include "pqxx/nontransaction"
#include "service/storage/migrations.h"

namespace ossup::storage::testing {
namespace {

// Replaces the database name in a postgresql:// URI.
std::string WithDatabase(const std::string& uri, const std::string& name) {
  const size_t scheme = uri.find("://");
  const size_t slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = uri.find('?', slash == std::string::npos ? 0 : slash);
  std::string base = uri.substr(0, slash == std::string::npos ? query : slash);
  std::string rest = query == std::string::npos ? "" : uri.substr(query);
  return absl::StrCat(base, "/", name, rest);
}

}  // namespace

absl::StatusOr<pqxx::result> QueryOnce(const std::string& dsn, const std::string& sql) {
  pqxx::result result;
  absl::Status status = RunGuarded([&] {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    result = tx.exec(sql);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

std::unique_ptr<ScratchDatabase> ScratchDatabase::Create() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    // Callers skip when there is no database; tests/run.sh starts one, so there a missing URL
    // is a failure rather than a quiet skip.
    const char* required = std::getenv("OSSUP_REQUIRE_DB");
    if (required != nullptr && std::string(required) == "1") {
      ADD_FAILURE() << "DATABASE_URL is not set but OSSUP_REQUIRE_DB=1";
    }
    return nullptr;
  }
  absl::BitGen gen;
  const std::string name = absl::StrFormat("ossup_test_%016x", absl::Uniform<uint64_t>(gen));
  absl::Status status =
      QueryOnce(url, absl::StrCat("CREATE DATABASE ", name, " TEMPLATE template0")).status();
  EXPECT_TRUE(status.ok()) << status;
  if (!status.ok()) return nullptr;
  return std::unique_ptr<ScratchDatabase>(new ScratchDatabase(url, name, WithDatabase(url, name)));
}

ScratchDatabase::~ScratchDatabase() {
  absl::Status status =
      QueryOnce(admin_dsn_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"))
          .status();
  EXPECT_TRUE(status.ok()) << status;
}

std::string RandomUuid() {
  absl::BitGen gen;
  const uint64_t hi = absl::Uniform<uint64_t>(gen), lo = absl::Uniform<uint64_t>(gen);
  std::string hex = absl::StrFormat("%016x%016x", hi, lo);
  hex[12] = '4';
  hex[16] = "89ab"[lo % 4];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

domain::Upload NewUpload(absl::string_view ns, absl::string_view subject, absl::Time create_time) {
  domain::Upload u;
  u.id = RandomUuid();
  u.ns = std::string(ns);
  u.subject = std::string(subject);
  u.bucket = "bucket-a";
  u.object_key = absl::StrCat("avatars/", u.id, "/photo.png");
  u.content_types = {"image/png", "image/jpeg"};
  u.min_size = 1;
  u.max_size = 10 << 20;
  u.metadata = {{"album", "holiday"}, {"owner", "o'brien \"quoted\""}};
  u.callback_token_sha256 = std::string(32, '\0');
  for (int i = 0; i < 32; ++i) u.callback_token_sha256[i] = static_cast<char>(u.id[i] ^ i);
  u.create_time = create_time;
  u.update_time = create_time;
  u.expire_time = create_time + absl::Minutes(15);
  return u;
}

void StoreTest::SetUp() {
  scratch_ = ScratchDatabase::Create();
  if (scratch_ == nullptr) {
    if (!HasFailure()) {
      GTEST_SKIP() << "DATABASE_URL is not set; start one with "
                      "eval \"$(scripts/pgtmp.sh start)\" (tests/run.sh does)";
    }
    return;
  }
  absl::Status migrated = RunGuarded([&] {
    pqxx::connection conn(scratch_->dsn());
    return Migrate(conn);
  });
  ASSERT_TRUE(migrated.ok()) << migrated;
  db_ = std::make_unique<Database>(DatabaseOptions{.dsn = scratch_->dsn(), .pool_size = 12});
  store_ = std::make_unique<UploadStore>(
      db_.get(), UploadStoreOptions{.expiry_grace = absl::Seconds(60),
                                    .on_events_committed = [this] { ++commits_notified_; }});
}

void StoreTest::TearDown() {
  store_.reset();
  db_.reset();
  scratch_.reset();
}

domain::Upload StoreTest::MustCreate(absl::string_view ns, absl::string_view subject,
                                     absl::Time create_time) {
  absl::StatusOr<CreateResult> r = store_->Create(NewUpload(ns, subject, create_time));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->upload : domain::Upload{};
}

}  // namespace ossup::storage::testing

// LeakSanitizer: libpq/libpqxx 6.4 leak the error PGresult when a query fails on a connection the
// server has closed (RecoversFromTerminatedConnections provokes exactly that). Our code never
// creates PGresults itself, so suppressing leaks allocated by PQmakeEmptyPGresult hides nothing
// of ours. Unused in builds without the sanitizer.
extern "C" const char* __lsan_default_suppressions() { return "leak:PQmakeEmptyPGresult\n"; }
