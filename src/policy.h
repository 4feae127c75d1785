/*!
 * \file policy.h
 * \brief The adaptive evaluator's stopping rule and reported estimate (pure, no state).
 *
 * C++ twin of python/adatune/measure/policy.py: the same operations in the same order,
 * so both give bit-identical answers (tests/test_policy.py checks it through FFI).
 *
 * Positional order of the parameters (PolicyParams' fields, the Python StopPolicy
 * fields, and the arguments after `batch_means` of adatune.should_stop/adatune.estimate):
 *
 *   idx  name               type     default  paper()
 *    0   min_batches        int64    3        3
 *    1   max_batches        int64    20       20
 *    2   min_converge_coef  double   0.1      0.1
 *    3   regime_tol         double   0.002    inf
 *    4   regime_k           double   3.0      3.0
 *    5   regime_window      double   0.5      0.5
 *    6   min_stable         int64    2        1
 *    7   stable_ratio       double   1.0      1.0
 *    8   last_tol           double   0.015    inf
 *    9   warmup_max         double   0.03     inf
 *   10   settle_batches     int64    5        1
 *   11   max_rel_se         double   0.012    inf
 *   12   max_drop           int64    2        0
 *   13   fallback_drop      int64    1        0
 *   14   robust_estimate    bool     true     false
 *   15   last_k             int64    1        1
 *   16   tail_tol           double   0.005    inf
 *
 * e.g. f([t0, t1, ...], 3, 20, 0.1, 0.002, 3.0, 0.5, 2, 1.0, 0.015, 0.03, 5, 0.012, 2, 1, True,
 *        1, 0.005).
 * +inf in regime_tol / last_tol / warmup_max / max_rel_se / tail_tol means "no limit";
 * the paper's rule needs it, so a "name=value" transport must accept "inf".
 *
 * Batch means must be finite and >= 0 (the timing loop's output) and, for Estimate, not
 * empty: these functions assume it. The global functions check it first with
 * CheckBatchMeans, as the public Python functions do with _as_means.
 */
#ifndef ADATUNE_POLICY_H_
#define ADATUNE_POLICY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace adatune {

/*! \brief Parameters of the rule; see python/adatune/measure/policy.py:StopPolicy. */
struct PolicyParams {
  int64_t min_batches = 3;
  int64_t max_batches = 20;
  double min_converge_coef = 0.1;
  double regime_tol = 0.002;
  double regime_k = 3.0;
  double regime_window = 0.5;
  int64_t min_stable = 2;
  double stable_ratio = 1.0;
  double last_tol = 0.015;
  double warmup_max = 0.03;
  int64_t settle_batches = 5;
  double max_rel_se = 0.012;
  int64_t max_drop = 2;
  int64_t fallback_drop = 1;
  bool robust_estimate = true;
  int64_t last_k = 1;
  double tail_tol = 0.005;

  /*! \brief The AdaTune paper's rule (trimmed CV below the threshold, report the mean). */
  static PolicyParams Paper() {
    const double inf = std::numeric_limits<double>::infinity();
    PolicyParams p;
    p.regime_tol = inf;
    p.min_stable = 1;
    p.last_tol = inf;
    p.warmup_max = inf;
    p.settle_batches = 1;
    p.max_rel_se = inf;
    p.max_drop = 0;
    p.fallback_drop = 0;
    p.robust_estimate = false;
    p.last_k = 1;
    p.tail_tol = inf;
    return p;
  }
};

/*! \brief True at max_batches or when the rule is met. */
bool ShouldStop(const std::vector<double>& batch_means, const PolicyParams& params);

/*! \brief Whether the rule itself is met, max_batches aside (a result's `converged`). */
bool RuleMet(const std::vector<double>& batch_means, const PolicyParams& params);

/*! \brief The cost to report (median after the transient); NaN for an empty input. */
double Estimate(const std::vector<double>& batch_means, const PolicyParams& params);

/*! \brief CV (population std / mean) of the batch means, min and max trimmed at >= 5. */
double BatchCV(const std::vector<double>& batch_means);

/*! \brief "" when valid, else a message naming the first bad parameter. */
std::string ValidatePolicy(const PolicyParams& params);

/*! \brief "" when every batch mean is finite and >= 0 and there is one at least, else a
 *         message naming batch_means (the wording of python/adatune/measure/policy.py). */
std::string CheckBatchMeans(const std::vector<double>& batch_means);

}  // namespace adatune

#endif  // ADATUNE_POLICY_H_
