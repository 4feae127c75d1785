/*!
 * \file policy.cc
 * \brief The stopping rule; mirrors python/adatune/measure/policy.py line by line.
 */
#include "policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

// Compiled with -ffp-contract=off (CMakeLists.txt): a fused multiply-add would round
// differently from Python's separate * and +.

namespace adatune {
namespace {

constexpr double kMadToSigma = 1.4826;

double Median(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  size_t n = s.size();
  size_t h = n / 2;
  return (n % 2) ? s[h] : 0.5 * (s[h - 1] + s[h]);
}

double Mean(const std::vector<double>& x) {
  double total = 0.0;
  for (double v : x) total += v;
  return total / static_cast<double>(x.size());
}

double SumSqDev(const std::vector<double>& x, double mean) {
  double total = 0.0;
  for (double v : x) {
    double dv = v - mean;
    total += dv * dv;
  }
  return total;
}

std::vector<double> Trimmed(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  if (s.size() >= 5) return std::vector<double>(s.begin() + 1, s.end() - 1);
  return s;
}

double TrimmedMean(const std::vector<double>& x) { return Mean(Trimmed(x)); }

double CV(const std::vector<double>& x) {
  std::vector<double> t = Trimmed(x);
  if (t.size() < 2) return 0.0;
  double mean = Mean(t);
  double std_dev = std::sqrt(SumSqDev(t, mean) / static_cast<double>(t.size()));
  if (std_dev == 0.0) return 0.0;
  return mean > 0.0 ? std_dev / mean : std::numeric_limits<double>::infinity();
}

// inf * 0 would be NaN; an infinite tolerance accepts everything.
bool Within(double dist, double tol, double scale) {
  return std::isinf(tol) || dist <= tol * scale;
}

std::vector<double> Slice(const std::vector<double>& x, size_t begin, size_t end) {
  return std::vector<double>(x.begin() + begin, x.begin() + end);
}

int64_t SegmentStart(const std::vector<double>& x, const PolicyParams& p) {
  int64_t n = static_cast<int64_t>(x.size());
  if (std::isinf(p.regime_tol) || n <= p.min_stable) return 0;
  int64_t w_len = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(p.regime_window * static_cast<double>(n))));
  std::vector<double> w = Slice(x, static_cast<size_t>(n - w_len), static_cast<size_t>(n));
  double ref = Median(w);
  std::vector<double> dev;
  dev.reserve(w.size());
  for (double v : w) dev.push_back(std::fabs(v - ref));
  double mad = Median(dev);
  double thr = std::max(p.regime_tol * std::fabs(ref), p.regime_k * kMadToSigma * mad);
  int64_t d = 0;
  while (d < n - p.min_stable && std::fabs(x[static_cast<size_t>(d)] - ref) > thr) ++d;
  return d;
}

// (rule met, leading batches dropped); max_batches is not part of the rule.
std::pair<bool, int64_t> Analyse(const std::vector<double>& x, const PolicyParams& p) {
  int64_t n = static_cast<int64_t>(x.size());
  int64_t d = SegmentStart(x, p);
  int64_t m = n - d;
  if (n < p.min_batches || m < p.min_stable ||
      static_cast<double>(m) < p.stable_ratio * static_cast<double>(d)) {
    return {false, d};
  }
  std::vector<double> seg = Slice(x, static_cast<size_t>(d), x.size());
  double level = Median(seg);
  // Every one of the newest last_k batches (those in the segment) must agree.
  for (int64_t i = std::max(d, n - p.last_k); i < n; ++i) {
    if (!Within(std::fabs(x[static_cast<size_t>(i)] - level), p.last_tol, level)) {
      return {false, d};
    }
  }
  if (!std::isinf(p.tail_tol) && m >= 2) {
    // The newest third of the segment against the rest: a late shift in level.
    int64_t t = std::max<int64_t>(1, m / 3);
    double late = Median(Slice(seg, static_cast<size_t>(m - t), seg.size()));
    double early = Median(Slice(seg, 0, static_cast<size_t>(m - t)));
    if (!Within(std::fabs(late - early), p.tail_tol, level)) return {false, d};
  }
  bool warm = false;
  if (d > 0 && !std::isinf(p.regime_tol)) {
    double excess = Mean(Slice(x, 0, static_cast<size_t>(d))) - level;
    warm = excess > p.regime_tol * level && Within(excess, p.warmup_max, level);
  }
  if (!warm && n < p.settle_batches) return {false, d};
  if (!(CV(seg) < p.min_converge_coef)) return {false, d};
  if (!std::isinf(p.max_rel_se)) {
    double sd = m > 1 ? std::sqrt(SumSqDev(seg, Mean(seg)) / static_cast<double>(m - 1)) : 0.0;
    if (!(sd / std::sqrt(static_cast<double>(m)) <= p.max_rel_se * level)) return {false, d};
  }
  return {true, d};
}

}  // namespace

bool ShouldStop(const std::vector<double>& batch_means, const PolicyParams& params) {
  if (static_cast<int64_t>(batch_means.size()) >= params.max_batches) return true;
  return Analyse(batch_means, params).first;
}

bool RuleMet(const std::vector<double>& batch_means, const PolicyParams& params) {
  return !batch_means.empty() && Analyse(batch_means, params).first;
}

double Estimate(const std::vector<double>& batch_means, const PolicyParams& params) {
  if (batch_means.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::pair<bool, int64_t> a = Analyse(batch_means, params);
  int64_t drop = std::min(a.second, a.first ? params.max_drop : params.fallback_drop);
  std::vector<double> kept = Slice(batch_means, static_cast<size_t>(drop), batch_means.size());
  return params.robust_estimate ? Median(kept) : TrimmedMean(kept);
}

double BatchCV(const std::vector<double>& batch_means) {
  if (batch_means.empty()) return std::numeric_limits<double>::quiet_NaN();
  return CV(batch_means);
}

std::string ValidatePolicy(const PolicyParams& p) {
  std::ostringstream err;
  // Same order and wording as validate_policy() in Python (python/adatune/_checks.py).
  auto count = [&err](const char* name, int64_t v, int64_t least) {
    if (v < least) {
      err << name << " must be " << (least == 1 ? "a positive int" : "an int >= 0") << ", got "
          << v;
    }
    return err.tellp() == 0;
  };
  auto positive = [&err](const char* name, double v, bool inf_ok) {
    if (std::isnan(v) || (std::isinf(v) && !inf_ok)) {
      err << name << " must be a finite number, got " << v;
    } else if (v <= 0.0) {
      err << name << " must be > 0, got " << v;
    }
    return err.tellp() == 0;
  };
  auto window = [&err](const char* name, double v) {
    if (std::isnan(v) || std::isinf(v)) {
      err << name << " must be a finite number, got " << v;
    } else if (!(v > 0.0 && v <= 1.0)) {
      err << name << " must be in (0, 1], got " << v;
    }
    return err.tellp() == 0;
  };
  if (!count("min_batches", p.min_batches, 1) || !count("max_batches", p.max_batches, 1) ||
      !positive("min_converge_coef", p.min_converge_coef, false) ||
      !positive("regime_tol", p.regime_tol, true) || !positive("regime_k", p.regime_k, false) ||
      !window("regime_window", p.regime_window) || !count("min_stable", p.min_stable, 1) ||
      !positive("stable_ratio", p.stable_ratio, false) ||
      !positive("last_tol", p.last_tol, true) || !positive("warmup_max", p.warmup_max, true) ||
      !count("settle_batches", p.settle_batches, 1) ||
      !positive("max_rel_se", p.max_rel_se, true) || !count("max_drop", p.max_drop, 0) ||
      !count("fallback_drop", p.fallback_drop, 0) || !count("last_k", p.last_k, 1) ||
      !positive("tail_tol", p.tail_tol, true)) {
    return err.str();
  }
  if (p.min_batches > p.max_batches) {
    err << "min_batches (" << p.min_batches << ") must not exceed max_batches ("
        << p.max_batches << ")";
  } else if (p.regime_tol > p.warmup_max) {
    err << "regime_tol (" << p.regime_tol << ") must not exceed warmup_max (" << p.warmup_max
        << ")";
  }
  return err.str();
}

std::string CheckBatchMeans(const std::vector<double>& batch_means) {
  if (batch_means.empty()) return "batch_means is empty: give at least one batch mean";
  for (size_t i = 0; i < batch_means.size(); ++i) {
    const double v = batch_means[i];
    if (!std::isfinite(v) || v < 0.0) {
      std::ostringstream err;
      err << "batch_means[" << i << "] = " << v << ": batch means must be finite and >= 0";
      return err.str();
    }
  }
  return std::string();
}

}  // namespace adatune
