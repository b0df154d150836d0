#include "service/common/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ossup::metrics {
namespace {

[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "metrics: %s\n", std::string(what).c_str());
  std::abort();
}

bool IsValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

void ValidateNames(absl::string_view name, const std::vector<std::string>& label_names) {
  if (!IsValidName(name, /*allow_colon=*/true))
    Die(absl::StrCat("invalid metric name '", name, "'"));
  for (const std::string& label : label_names) {
    if (!IsValidName(label, /*allow_colon=*/false) || absl::StartsWith(label, "__") ||
        label == "le") {
      Die(absl::StrCat("invalid label name '", label, "' of ", name));
    }
  }
}

// Backslash and newline escaped, and double quotes too in label values (not in HELP text).
std::string Escape(absl::string_view text, bool escape_quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}`, with `extra` (already formatted, e.g. `le="0.5"`) last; empty without labels.
std::string FormatLabels(const std::vector<std::string>& names, const LabelValues& values,
                         absl::string_view extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    absl::StrAppend(&out, extra);
  }
  out += '}';
  return out;
}

void AppendSample(std::string* out, absl::string_view name, absl::string_view labels,
                  absl::string_view value) {
  absl::StrAppend(out, name, labels, " ", value, "\n");
}

}  // namespace

const std::vector<double>& DefaultLatencyBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

std::string EscapeLabelValue(absl::string_view value) {
  return Escape(value, /*escape_quotes=*/true);
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<uint64_t>[upper_bounds_->size() + 1]) {
  for (size_t i = 0; i <= upper_bounds_->size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  const std::vector<double>& bounds = *upper_bounds_;
  size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::TakeSnapshot() const {
  Snapshot snapshot;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds_->size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(cumulative);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

template <typename Series>
Series& Family<Series>::WithLabels(const LabelValues& values) {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat("expected ", label_names_.size(), " label values, got ", values.size()));
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  if (series_.size() >= kMaxSeriesPerFamily) {
    std::unique_ptr<Series>& overflow =
        series_[LabelValues(values.size(), std::string(kOverflowLabelValue))];
    if (overflow == nullptr) overflow = make_();
    return *overflow;
  }
  return *series_.emplace(values, make_()).first->second;
}

template <typename Series>
std::vector<std::pair<LabelValues, const Series*>> Family<Series>::AllSeries() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::pair<LabelValues, const Series*>> all;
  all.reserve(series_.size());
  for (const auto& [values, series] : series_) all.emplace_back(values, series.get());
  return all;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  std::string name;
  std::string help;
  std::string type;
  std::vector<std::string> label_names;
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
  Collector collect;
};

Registry* GivenOrOwn(Registry* given, std::unique_ptr<Registry>* own) {
  if (given != nullptr) return given;
  *own = std::make_unique<Registry>();
  return own->get();
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::AddEntry(absl::string_view name, absl::string_view help,
                                    absl::string_view type, std::vector<std::string> label_names) {
  ValidateNames(name, label_names);
  absl::MutexLock lock(&mu_);
  for (const auto& entry : entries_) {
    if (entry->name == name) Die(absl::StrCat("metric '", name, "' registered twice"));
  }
  auto entry = std::make_unique<Entry>();
  entry->name = std::string(name);
  entry->help = std::string(help);
  entry->type = std::string(type);
  entry->label_names = std::move(label_names);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

CounterFamily& Registry::AddCounter(absl::string_view name, absl::string_view help,
                                    std::vector<std::string> label_names) {
  Entry& entry = AddEntry(name, help, "counter", std::move(label_names));
  entry.counters.reset(
      new CounterFamily(entry.label_names, [] { return std::make_unique<Counter>(); }));
  return *entry.counters;
}

GaugeFamily& Registry::AddGauge(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names) {
  Entry& entry = AddEntry(name, help, "gauge", std::move(label_names));
  entry.gauges.reset(new GaugeFamily(entry.label_names, [] { return std::make_unique<Gauge>(); }));
  return *entry.gauges;
}

HistogramFamily& Registry::AddHistogram(absl::string_view name, absl::string_view help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds) {
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
      Die(absl::StrCat("histogram ", name, ": bucket bounds must be finite and ascending"));
    }
  }
  Entry& entry = AddEntry(name, help, "histogram", std::move(label_names));
  auto bounds = std::make_shared<const std::vector<double>>(std::move(upper_bounds));
  entry.histograms.reset(new HistogramFamily(
      entry.label_names, [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *entry.histograms;
}

void Registry::AddGaugeCallback(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names, Collector collect) {
  Entry& entry = AddEntry(name, help, "gauge", std::move(label_names));
  entry.collect = std::move(collect);
}

void Registry::AddCounterCallback(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names, Collector collect) {
  Entry& entry = AddEntry(name, help, "counter", std::move(label_names));
  entry.collect = std::move(collect);
}

std::string Registry::Render() const {
  // Entries are never removed: render them without holding the registry lock, so a slow gauge
  // callback does not block registration.
  std::vector<const Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& entry : entries_) entries.push_back(entry.get());
  }
  std::string out;
  for (const Entry* entry : entries) {
    const std::string& name = entry->name;
    absl::StrAppend(&out, "# HELP ", name, " ", Escape(entry->help, /*escape_quotes=*/false), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", entry->type, "\n");
    if (entry->counters != nullptr) {
      for (const auto& [values, counter] : entry->counters->AllSeries()) {
        AppendSample(&out, name, FormatLabels(entry->label_names, values),
                     absl::StrCat(counter->value()));
      }
    } else if (entry->gauges != nullptr) {
      for (const auto& [values, gauge] : entry->gauges->AllSeries()) {
        AppendSample(&out, name, FormatLabels(entry->label_names, values),
                     FormatValue(gauge->value()));
      }
    } else if (entry->histograms != nullptr) {
      for (const auto& [values, histogram] : entry->histograms->AllSeries()) {
        const Histogram::Snapshot snapshot = histogram->TakeSnapshot();
        const std::vector<double>& bounds = histogram->upper_bounds();
        const std::string bucket_name = absl::StrCat(name, "_bucket");
        for (size_t i = 0; i <= bounds.size(); ++i) {
          const std::string le =
              absl::StrCat("le=\"", i < bounds.size() ? FormatValue(bounds[i]) : "+Inf", "\"");
          AppendSample(&out, bucket_name, FormatLabels(entry->label_names, values, le),
                       absl::StrCat(snapshot.cumulative_counts[i]));
        }
        const std::string labels = FormatLabels(entry->label_names, values);
        AppendSample(&out, absl::StrCat(name, "_sum"), labels, FormatValue(snapshot.sum));
        AppendSample(&out, absl::StrCat(name, "_count"), labels,
                     absl::StrCat(snapshot.cumulative_counts.back()));
      }
    } else if (entry->collect) {
      for (const Sample& sample : entry->collect()) {
        if (sample.label_values.size() != entry->label_names.size()) continue;
        AppendSample(&out, name, FormatLabels(entry->label_names, sample.label_values),
                     FormatValue(sample.value));
      }
    }
  }
  return out;
}

std::vector<Sample> CachedCollector::Get() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (now < expires_) return samples_;
  absl::StatusOr<std::vector<Sample>> collected = collect_();
  samples_ = collected.ok() ? *std::move(collected) : std::vector<Sample>{};
  expires_ = now + ttl_;
  return samples_;
}

}  // namespace ossup::metrics
