#include "service/storage/readiness.h"

#include <memory>

#include "gtest/gtest.h"
#include "service/storage/migrations.h"
#include "service/storage/storage_test_util.h"

namespace ossup::storage {
namespace {

class ReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = testing::ScratchDatabase::Create();
    if (scratch_ == nullptr) {
      if (!HasFailure()) GTEST_SKIP() << "DATABASE_URL is not set";
      return;
    }
    DatabaseOptions options;
    options.dsn = scratch_->dsn();
    options.pool_size = 1;
    db_ = std::make_unique<Database>(options);
  }
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  ReadinessCheck NewCheck() {
    return ReadinessCheck(db_.get(),
                          {absl::Milliseconds(100), absl::Seconds(30), absl::Seconds(10)},
                          [this] { return now_; });
  }
  std::unique_ptr<testing::ScratchDatabase> scratch_;
  std::unique_ptr<Database> db_;
};

TEST_F(ReadinessTest, NotReadyUntilTheMigrationsRan) {
  ReadinessCheck check = NewCheck();
  EXPECT_EQ(check.Refresh().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(db_->WithConnection(Migrate).ok());
  EXPECT_TRUE(check.Refresh().ok());
}

TEST_F(ReadinessTest, ABusyPoolIsReadyForAWhileAfterASuccessfulCheck) {
  ASSERT_TRUE(db_->WithConnection(Migrate).ok());
  ReadinessCheck check = NewCheck();
  {
    // Every connection leased, as under load: a check made now has never succeeded.
    absl::StatusOr<Database::Lease> busy = db_->Acquire();
    ASSERT_TRUE(busy.ok());
    const absl::Status never = check.Refresh();
    EXPECT_EQ(never.code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(never.message().find("database busy"), absl::string_view::npos) << never;
  }
  ASSERT_TRUE(check.Refresh().ok());
  absl::StatusOr<Database::Lease> busy = db_->Acquire();
  ASSERT_TRUE(busy.ok());
  const absl::Time start = absl::Now();
  now_ += absl::Seconds(29);
  EXPECT_TRUE(check.Refresh().ok());  // without queueing behind the work for more than a moment
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  now_ += absl::Seconds(2);  // 31 s since the last success: a pool that stays stuck is not ready
  EXPECT_EQ(check.Refresh().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ReadinessTest, TheProbeAnswersFromTheLastCheckUntilItIsStale) {
  ASSERT_TRUE(db_->WithConnection(Migrate).ok());
  ReadinessCheck check = NewCheck();
  EXPECT_EQ(check.Current().code(), absl::StatusCode::kUnavailable);  // not checked yet
  ASSERT_TRUE(check.Refresh().ok());
  // Answered without the database: even with every connection leased, no waiting at all.
  absl::StatusOr<Database::Lease> busy = db_->Acquire();
  ASSERT_TRUE(busy.ok());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(check.Current().ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(50));
  now_ += absl::Seconds(11);  // the checker stopped checking
  const absl::Status stale = check.Current();
  EXPECT_EQ(stale.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(stale.message().find("last checked"), absl::string_view::npos) << stale;
}

TEST(ReadinessCheckTest, AnUnreachableDatabaseIsUnavailable) {
  DatabaseOptions options;
  options.dsn = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
  Database nowhere(options);
  ReadinessCheck check(&nowhere, {});
  const absl::Status status = check.Refresh();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("database unreachable"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace ossup::storage
