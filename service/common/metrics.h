#ifndef OSSUP_SERVICE_COMMON_METRICS_H_
#define OSSUP_SERVICE_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/clock.h"

// A small, dependency-free metrics registry rendering the Prometheus text exposition format
// 0.0.4. Counters, gauges and histograms are grouped in families (one name, one HELP, fixed label
// names); a family's series are keyed by label values, which callers take from small fixed sets
// (route, method, status code). Updating a series is a few relaxed atomic operations; finding it
// by label values takes a reader lock, so hot paths that always use the same labels keep the
// pointer. Thread-safe throughout.
namespace ossup::metrics {

// The Content-Type of Registry::Render's output.
inline constexpr absl::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Request latency buckets in seconds, 1 ms to 10 s.
const std::vector<double>& DefaultLatencyBuckets();

// Label values of one series, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds` ascending, without +Inf (always present).
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);
  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  struct Snapshot {
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot TakeSnapshot() const;
  const std::vector<double>& upper_bounds() const { return *upper_bounds_; }

 private:
  const std::shared_ptr<const std::vector<double>> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), then +Inf
  std::atomic<double> sum_{0};
};

// A family's series beyond this many distinct label sets all share one series whose every label
// value is kOverflowLabelValue, so a labelling mistake cannot grow memory without bound.
inline constexpr size_t kMaxSeriesPerFamily = 500;
inline constexpr absl::string_view kOverflowLabelValue = "_overflow";

// Series of one metric keyed by label values. `Series` is Counter, Gauge or Histogram.
template <typename Series>
class Family {
 public:
  // The series with these label values (created on first use). The count must match the family's
  // label names. The reference stays valid as long as the registry.
  Series& WithLabels(const LabelValues& values);
  Series& WithLabels(std::initializer_list<absl::string_view> values) {
    return WithLabels(LabelValues(values.begin(), values.end()));
  }

  // Every series, ordered by label values.
  std::vector<std::pair<LabelValues, const Series*>> AllSeries() const;

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Series>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Series>()> make_;
  mutable absl::Mutex mu_;
  std::map<LabelValues, std::unique_ptr<Series>> series_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// One value of a gauge or counter computed at render time.
struct Sample {
  LabelValues label_values;
  double value = 0;
};
using Collector = std::function<std::vector<Sample>()>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registration aborts on an invalid or duplicate metric name or invalid label names: those are
  // programming errors. Families are rendered in registration order, series by label values.
  CounterFamily& AddCounter(absl::string_view name, absl::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(absl::string_view name, absl::string_view help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names,
                                std::vector<double> upper_bounds = DefaultLatencyBuckets());
  // A gauge whose samples `collect` returns at every Render, on the rendering thread (which must
  // therefore be one that may block if `collect` does). It must outlive the registry's renders.
  void AddGaugeCallback(absl::string_view name, absl::string_view help,
                        std::vector<std::string> label_names, Collector collect);
  // The same for a counter kept elsewhere (e.g. an atomic of another component): its values must
  // never decrease.
  void AddCounterCallback(absl::string_view name, absl::string_view help,
                          std::vector<std::string> label_names, Collector collect);

  // The text exposition of every family.
  std::string Render() const;

 private:
  struct Entry;
  Entry& AddEntry(absl::string_view name, absl::string_view help, absl::string_view type,
                  std::vector<std::string> label_names);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// `given`, or else a new registry kept in `own`: for components whose metrics are optional.
Registry* GivenOrOwn(Registry* given, std::unique_ptr<Registry>* own);

// Caches what `collect` returns for `ttl`, so frequent scrapes cannot hammer what it reads (e.g.
// a database). A failure yields no samples and is cached too. Concurrent callers wait for one
// refresh. Use as a Collector: registry.AddGaugeCallback(..., [&cached] { return
// cached.Get(); }).
class CachedCollector {
 public:
  using Collect = std::function<absl::StatusOr<std::vector<Sample>>()>;
  CachedCollector(Collect collect, absl::Duration ttl, const Clock* clock)
      : collect_(std::move(collect)), ttl_(ttl), clock_(clock) {}

  std::vector<Sample> Get();

 private:
  const Collect collect_;
  const absl::Duration ttl_;
  const Clock* const clock_;
  absl::Mutex mu_;
  absl::Time expires_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<Sample> samples_ ABSL_GUARDED_BY(mu_);
};

// Exposition details, exposed for tests.
// A label value with \, " and newline escaped.
std::string EscapeLabelValue(absl::string_view value);
// A sample value: integers without a fraction, others in the shortest form that reads back
// exactly, and +Inf, -Inf, NaN.
std::string FormatValue(double value);

}  // namespace ossup::metrics

#endif  // OSSUP_SERVICE_COMMON_METRICS_H_
