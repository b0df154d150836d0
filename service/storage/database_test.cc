#include "service/storage/database.h"

#include <optional>

#include "gtest/gtest.h"
#include "service/storage/storage_test_util.h"

namespace ossup::storage {
namespace {

TEST(DsnWithPasswordTest, AddsThePasswordToUrisAndKeyValueStrings) {
  EXPECT_EQ(DsnWithPassword("postgresql://u@db/x", ""), "postgresql://u@db/x");
  EXPECT_EQ(DsnWithPassword("postgresql://u@db/x", "p@ss w/rd"),
            "postgresql://u@db/x?password=p%40ss%20w%2Frd");
  EXPECT_EQ(DsnWithPassword("postgres://u@db/x?sslmode=require", "pw"),
            "postgres://u@db/x?sslmode=require&password=pw");
  EXPECT_EQ(DsnWithPassword("host=db user=u", "it's\\x"), "host=db user=u password='it\\'s\\\\x'");
}

TEST(DsnForConnectingTest, AddsADefaultConnectTimeoutUnlessOneIsSet) {
  EXPECT_EQ(DsnForConnecting("postgresql://u@db/x", nullptr),
            "postgresql://u@db/x?connect_timeout=10");
  EXPECT_EQ(DsnForConnecting("postgres://u@db/x?sslmode=require", nullptr),
            "postgres://u@db/x?sslmode=require&connect_timeout=10");
  EXPECT_EQ(DsnForConnecting("postgresql://u@db/x?connect_timeout=3", nullptr),
            "postgresql://u@db/x?connect_timeout=3");
  EXPECT_EQ(DsnForConnecting("host=db user=u", nullptr), "host=db user=u connect_timeout=10");
  EXPECT_EQ(DsnForConnecting("postgresql://u@db/x", [] { return std::string("pw"); }),
            "postgresql://u@db/x?connect_timeout=10&password=pw");
}

TEST(DatabaseStatsTest, CountsIdleAndLeasedConnections) {
  std::unique_ptr<testing::ScratchDatabase> scratch = testing::ScratchDatabase::Create();
  if (scratch == nullptr) {
    if (!HasFailure()) GTEST_SKIP() << "DATABASE_URL is not set";
    return;
  }
  DatabaseOptions options;
  options.dsn = scratch->dsn();
  options.pool_size = 3;
  Database db(options);
  Database::PoolStats stats = db.Stats();
  EXPECT_EQ(stats.max, 3);
  EXPECT_EQ(stats.open, 0);

  {
    absl::StatusOr<Database::Lease> first = db.Acquire();
    absl::StatusOr<Database::Lease> second = db.Acquire();
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    stats = db.Stats();
    EXPECT_EQ(stats.open, 2);
    EXPECT_EQ(stats.leased, 2);
    EXPECT_EQ(stats.idle, 0);
  }
  stats = db.Stats();
  EXPECT_EQ(stats.open, 2);
  EXPECT_EQ(stats.leased, 0);
  EXPECT_EQ(stats.idle, 2);
}

}  // namespace
}  // namespace ossup::storage
