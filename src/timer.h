/*!
 * \file timer.h
 * \brief The adaptive timing loop: warm up, calibrate the batch size, then time
 *        micro-batches until a stopping rule says the measurement is reliable.
 */
#ifndef ADATUNE_TIMER_H_
#define ADATUNE_TIMER_H_

#include <tvm/ffi/function.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace adatune {

// Bounds of the loop's parameters, shared with python/adatune/measure/evaluator.py
// (_MAX_MS, _MAX_NUMBER): no batch of more than 10^12 calls, no min_batch_ms or
// cooldown_ms above an hour, so every count converts to int64 exactly.
constexpr double kMaxMs = 3.6e6;
constexpr int64_t kMaxNumber = 1000000000000;

struct TimerConfig {
  int32_t device_type = 1;  // kDLCPU
  int32_t device_id = 0;
  int64_t number = 0;        // calls per batch; 0 = choose so a batch lasts min_batch_ms
  double min_batch_ms = 1.0;
  double cooldown_ms = 0.0;  // sleep between batches
  bool flush_cache = false;  // flush the CPU cache of all but the first argument before each call
  double max_wall_ms = 0.0;  // stop starting new batches after this much time; 0 = no limit
  int64_t max_batches = 20;  // hard cap, also enforced by the stopping rule
};

struct TimerResult {
  std::vector<double> batch_means;  // seconds per call, one entry per batch
  int64_t number = 0;  // calls per batch at the end (automatic batches only ever grow)
  int64_t calls = 0;   // timed calls, warm-up and calibration excluded
  double warmup_s = 0.0;
  double wall_s = 0.0;  // the whole measurement, warm-up included
  int64_t flushes = 0;   // cache flushes done (flush_cache), calibration calls included
  bool budget_exhausted = false;
  std::string error;     // the kernel's failure ("Kind: message"); "" when it ran
};

/*!
 * \brief Time `func(args...)` adaptively.
 * \param should_stop Called with the batch means after every batch.
 * \return The measurement; a kernel (or stream sync, or cache flush) that throws ends it
 *         with `error` set, since a failing candidate is a result, not a bad call.
 * \throws RuntimeError before any call, for a configuration this process cannot time
 *         (no stream sync for the device, no cache flush function).
 */
TimerResult TimeAdaptive(const tvm::ffi::Function& func, tvm::ffi::PackedArgs args,
                         const TimerConfig& config,
                         const std::function<bool(const std::vector<double>&)>& should_stop);

/*!
 * \brief Encode a result as a small JSON object (returned as Bytes, which survives RPC).
 * \param converged Whether the stopping rule itself was met (not the max_batches cap).
 */
std::string ResultToJSON(const TimerResult& result, double estimate, double cv, bool converged);

}  // namespace adatune

#endif  // ADATUNE_TIMER_H_
