#ifndef OSSUP_SERVICE_STORAGE_STORAGE_TEST_UTIL_H_
#define OSSUP_SERVICE_STORAGE_STORAGE_TEST_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pqxx/result"
#include "service/domain/upload.h"
#include "service/storage/database.h"
#include "service/storage/upload_store.h"

namespace ossup::storage::testing {

// A fresh database (random name, from template0) on the server of $DATABASE_URL, dropped on
// destruction, so tests are independent and can run in parallel.
class ScratchDatabase {
 public:
  // nullptr if DATABASE_URL is unset; fails the test on other errors.
  static std::unique_ptr<ScratchDatabase> Create();
  ~ScratchDatabase();
  const std::string& dsn() const { return dsn_; }

 private:
  ScratchDatabase(std::string admin_dsn, std::string name, std::string dsn)
      : admin_dsn_(std::move(admin_dsn)), name_(std::move(name)), dsn_(std::move(dsn)) {}
  std::string admin_dsn_, name_, dsn_;
};

// Runs one statement on a new connection to `dsn`.
absl::StatusOr<pqxx::result> QueryOnce(const std::string& dsn, const std::string& sql);

std::string RandomUuid();

// A PENDING upload with distinct field values, created at `create_time`.
domain::Upload NewUpload(absl::string_view ns, absl::string_view subject, absl::Time create_time);

// Fixture: a migrated scratch database, a pool and a store. Skips without DATABASE_URL.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Creates and returns a fresh upload (asserting success).
  domain::Upload MustCreate(absl::string_view ns, absl::string_view subject,
                            absl::Time create_time);

  const absl::Time t0_ = absl::FromUnixSeconds(1'800'000'000);
  std::unique_ptr<ScratchDatabase> scratch_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<UploadStore> store_;
  std::atomic<int> commits_notified_{0};
};

}  // namespace ossup::storage::testing

#endif  // OSSUP_SERVICE_STORAGE_STORAGE_TEST_UTIL_H_
