#include "service/common/metrics.h"

#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersWithHelpTypeAndSortedSeries) {
  Registry registry;
  CounterFamily& requests =
      registry.AddCounter("app_requests_total", "Requests served.", {"route", "code"});
  requests.WithLabels({"b", "200"}).Increment();
  requests.WithLabels({"a", "503"}).Increment(2);
  requests.WithLabels({"b", "200"}).Increment();
  registry.AddCounter("app_plain_total", "No labels.").WithLabels({}).Increment(7);

  EXPECT_EQ(registry.Render(),
            "# HELP app_requests_total Requests served.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{route=\"a\",code=\"503\"} 2\n"
            "app_requests_total{route=\"b\",code=\"200\"} 2\n"
            "# HELP app_plain_total No labels.\n"
            "# TYPE app_plain_total counter\n"
            "app_plain_total 7\n");
}

TEST(MetricsTest, FamilyWithoutSeriesRendersOnlyItsHeader) {
  Registry registry;
  registry.AddCounter("app_none_total", "Nothing yet.", {"x"});
  EXPECT_EQ(registry.Render(),
            "# HELP app_none_total Nothing yet.\n"
            "# TYPE app_none_total counter\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.AddGauge("app_escaped", "Back\\slash and\nnewline \"kept\".", {"v"})
      .WithLabels({"a\\b\"c\nd"})
      .Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP app_escaped Back\\\\slash and\\nnewline \"kept\".\n"
            "# TYPE app_escaped gauge\n"
            "app_escaped{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.0025), "0.0025");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTest, GaugesSetAndAdd) {
  Registry registry;
  Gauge& gauge = registry.AddGauge("app_streams", "Open streams.").WithLabels({});
  gauge.Add(3);
  gauge.Add(-1);
  EXPECT_THAT(registry.Render(), HasSubstr("\napp_streams 2\n"));
  gauge.Set(0.5);
  EXPECT_THAT(registry.Render(), HasSubstr("\napp_streams 0.5\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  HistogramFamily& latency =
      registry.AddHistogram("app_latency_seconds", "Latency.", {"route"}, {0.25, 0.5, 1});
  Histogram& h = latency.WithLabels({"x"});
  h.Observe(0.125);
  h.Observe(0.25);  // on the bound: le is inclusive
  h.Observe(0.375);
  h.Observe(2);
  h.ObserveDuration(absl::Milliseconds(750));

  EXPECT_EQ(registry.Render(),
            "# HELP app_latency_seconds Latency.\n"
            "# TYPE app_latency_seconds histogram\n"
            "app_latency_seconds_bucket{route=\"x\",le=\"0.25\"} 2\n"
            "app_latency_seconds_bucket{route=\"x\",le=\"0.5\"} 3\n"
            "app_latency_seconds_bucket{route=\"x\",le=\"1\"} 4\n"
            "app_latency_seconds_bucket{route=\"x\",le=\"+Inf\"} 5\n"
            "app_latency_seconds_sum{route=\"x\"} 3.5\n"
            "app_latency_seconds_count{route=\"x\"} 5\n");
}

TEST(MetricsTest, HistogramWithoutLabelsHasOnlyLe) {
  Registry registry;
  registry.AddHistogram("app_h", "H.", {}, {1}).WithLabels({}).Observe(0.5);
  EXPECT_EQ(registry.Render(),
            "# HELP app_h H.\n"
            "# TYPE app_h histogram\n"
            "app_h_bucket{le=\"1\"} 1\n"
            "app_h_bucket{le=\"+Inf\"} 1\n"
            "app_h_sum 0.5\n"
            "app_h_count 1\n");
}

TEST(MetricsTest, GaugeCallbacksAreEvaluatedAtRender) {
  Registry registry;
  int calls = 0;
  registry.AddGaugeCallback("app_uploads", "Uploads by state.", {"state"}, [&calls] {
    ++calls;
    return std::vector<Sample>{{{"PENDING"}, 3}, {{"COMPLETED"}, static_cast<double>(calls)}};
  });
  EXPECT_EQ(registry.Render(),
            "# HELP app_uploads Uploads by state.\n"
            "# TYPE app_uploads gauge\n"
            "app_uploads{state=\"PENDING\"} 3\n"
            "app_uploads{state=\"COMPLETED\"} 1\n");
  EXPECT_THAT(registry.Render(), HasSubstr("app_uploads{state=\"COMPLETED\"} 2\n"));
}

TEST(MetricsTest, CounterCallbacksRenderAsCounters) {
  Registry registry;
  registry.AddCounterCallback("app_read_total", "Read.", {},
                              [] { return std::vector<Sample>{{{}, 12}}; });
  EXPECT_EQ(registry.Render(),
            "# HELP app_read_total Read.\n"
            "# TYPE app_read_total counter\n"
            "app_read_total 12\n");
}

TEST(MetricsTest, SeriesBeyondTheLimitShareTheOverflowSeries) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("app_many_total", "Many.", {"id"});
  for (size_t i = 0; i < kMaxSeriesPerFamily + 10; ++i) {
    family.WithLabels({std::to_string(i)}).Increment();
  }
  EXPECT_EQ(family.AllSeries().size(), kMaxSeriesPerFamily + 1);
  EXPECT_THAT(registry.Render(), HasSubstr("app_many_total{id=\"_overflow\"} 10\n"));
}

TEST(MetricsTest, ConcurrentUpdatesAreCounted) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("app_hits_total", "Hits.", {"t"});
  HistogramFamily& latency = registry.AddHistogram("app_seconds", "S.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        latency.WithLabels({}).Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(family.WithLabels({"even"}).value(), 20000u);
  EXPECT_EQ(family.WithLabels({"odd"}).value(), 20000u);
  EXPECT_THAT(registry.Render(), HasSubstr("app_seconds_count 40000\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("app_seconds_sum 20000\n"));
}

TEST(MetricsDeathTest, RejectsDuplicateAndInvalidNames) {
  Registry registry;
  registry.AddCounter("app_x_total", "X.");
  EXPECT_DEATH(registry.AddCounter("app_x_total", "again"), "registered twice");
  EXPECT_DEATH(registry.AddCounter("1bad", "bad"), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("app_y_total", "Y.", {"le"}), "invalid label name");
  EXPECT_DEATH(registry.AddGauge("app_z", "Z.", {"a-b"}), "invalid label name");
}

TEST(CachedCollectorTest, CachesForTheTtlIncludingFailures) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  int calls = 0;
  bool fail = false;
  CachedCollector cached(
      [&]() -> absl::StatusOr<std::vector<Sample>> {
        ++calls;
        if (fail) return absl::UnavailableError("down");
        return std::vector<Sample>{{{"PENDING"}, static_cast<double>(calls)}};
      },
      absl::Seconds(5), &clock);

  ASSERT_EQ(cached.Get().size(), 1u);
  EXPECT_EQ(cached.Get()[0].value, 1);
  clock.Advance(absl::Seconds(4));
  EXPECT_EQ(cached.Get()[0].value, 1);
  EXPECT_EQ(calls, 1);

  clock.Advance(absl::Seconds(1));
  fail = true;
  EXPECT_TRUE(cached.Get().empty());
  EXPECT_TRUE(cached.Get().empty());
  EXPECT_EQ(calls, 2);

  clock.Advance(absl::Seconds(5));
  fail = false;
  EXPECT_EQ(cached.Get()[0].value, 3);
}

}  // namespace
}  // namespace ossup::metrics
