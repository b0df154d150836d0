#include "service/storage/migrations.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pqxx/connection"
#include "service/storage/database.h"
#include "service/storage/storage_test_util.h"

namespace ossup::storage {
namespace {

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = testing::ScratchDatabase::Create();
    if (scratch_ == nullptr && !HasFailure()) GTEST_SKIP() << "DATABASE_URL is not set";
  }
  absl::Status MigrateOnce() {
    return RunGuarded([&] {
      pqxx::connection conn(scratch_->dsn());
      return Migrate(conn);
    });
  }
  int64_t Count(const std::string& sql) {
    absl::StatusOr<pqxx::result> r = testing::QueryOnce(scratch_->dsn(), sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0][0].as<int64_t>() : -1;
  }
  absl::StatusOr<bool> Applied() {
    absl::StatusOr<bool> applied = false;
    const absl::Status connected = RunGuarded([&] {
      pqxx::connection conn(scratch_->dsn());
      applied = MigrationsApplied(conn);
      return absl::OkStatus();
    });
    if (!connected.ok()) return connected;
    return applied;
  }
  std::unique_ptr<testing::ScratchDatabase> scratch_;
};

TEST_F(MigrationsTest, AppliesAllOnceAndIsIdempotent) {
  ASSERT_TRUE(MigrateOnce().ok());
  ASSERT_TRUE(MigrateOnce().ok());
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(Count("SELECT last_sequence FROM event_log_head"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM event_log_head"), 1);
}

TEST_F(MigrationsTest, ConcurrentReplicasMigrateSafely) {
  constexpr int kReplicas = 6;
  std::vector<absl::Status> results(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] { results[i] = MigrateOnce(); });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(Count("SELECT count(*) FROM event_log_head"), 1);
}

TEST_F(MigrationsTest, MigrationsAppliedOnlyAfterEveryVersionIsRecorded) {
  // A fresh database has no schema_migrations table at all.
  absl::StatusOr<bool> applied = Applied();
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);

  ASSERT_TRUE(MigrateOnce().ok());
  applied = Applied();
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(*applied);

  // A version missing (e.g. a newer binary against an older schema).
  ASSERT_TRUE(testing::QueryOnce(scratch_->dsn(), "DELETE FROM schema_migrations WHERE version = " +
                                                      std::to_string(Migrations().back().version))
                  .ok());
  applied = Applied();
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);
}

TEST_F(MigrationsTest, MigrationsAppliedIgnoresVersionsFromNewerReplicas) {
  ASSERT_TRUE(MigrateOnce().ok());
  ASSERT_TRUE(testing::QueryOnce(scratch_->dsn(),
                                 "INSERT INTO schema_migrations (version, name) "
                                 "VALUES (100000, 'from a newer replica')")
                  .ok());
  absl::StatusOr<bool> applied = Applied();
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(*applied);
}

TEST_F(MigrationsTest, VersionsAreOrderedFromOne) {
  int expected = 1;
  for (const Migration& m : Migrations()) EXPECT_EQ(m.version, expected++);
}

TEST(DatabaseTest, UnreachableServerIsUnavailable) {
  Database db(DatabaseOptions{.dsn = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2",
                              .pool_size = 1});
  absl::Status s = db.WithTransaction([](pqxx::work&) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

}  // namespace
}  // namespace ossup::storage
