/*!
 * \file timer.cc
 * \brief The adaptive timing loop.
 */
#include "timer.h"

#include <tvm/ffi/any.h>
#include <tvm/ffi/device.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <limits>
#include <sstream>
#include <thread>

namespace adatune {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kCalibrationCalls = 3;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Calls that make a batch last `seconds` at `per_call` seconds each, in [1, kMaxNumber]:
// the double is clamped before the conversion, which would overflow otherwise.
int64_t CallsFor(double seconds, double per_call) {
  const double n = std::ceil(seconds / std::max(per_call, 1e-9));
  if (!(n < static_cast<double>(kMaxNumber))) return kMaxNumber;
  return std::max<int64_t>(1, static_cast<int64_t>(n));
}

// A JSON string literal: the kernel's error message may hold quotes or newlines.
std::string Quoted(const std::string& text) {
  std::ostringstream os;
  os << '"';
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      os << '\\' << c;
    } else if (c == '\n') {
      os << "\\n";
    } else if (c < 0x20) {
      os << "\\u" << std::hex << std::setw(4) << std::setfill('0') << static_cast<int>(c)
         << std::dec << std::setfill(' ');
    } else {
      os << c;
    }
  }
  os << '"';
  return os.str();
}

// Kernel launches on accelerators are asynchronous: without a sync the timer would
// measure the launch, not the kernel.
class DeviceSync {
 public:
  explicit DeviceSync(const TimerConfig& config) : config_(config) {
    if (config.device_type != kDLCPU) {
      auto f = tvm::ffi::Function::GetGlobal("runtime.Device_StreamSync");
      if (!f.has_value()) {
        TVM_FFI_THROW(RuntimeError)
            << "adatune.time_adaptive: device_type " << config.device_type
            << " needs runtime.Device_StreamSync, which this process does not provide";
      }
      sync_ = *f;
    }
  }
  void operator()() const {
    if (sync_ == nullptr) return;
    DLDevice dev{static_cast<DLDeviceType>(config_.device_type), config_.device_id};
    void* stream = TVMFFIEnvGetStream(config_.device_type, config_.device_id);
    sync_(dev, reinterpret_cast<int64_t>(stream));
  }

 private:
  const TimerConfig& config_;
  tvm::ffi::Function sync_{nullptr};
};

class CacheFlusher {
 public:
  explicit CacheFlusher(bool enabled) {
    if (!enabled) return;
    auto f = tvm::ffi::Function::GetGlobal("cache_flush_cpu_non_first_arg");
    if (!f.has_value()) {
      TVM_FFI_THROW(RuntimeError) << "adatune.time_adaptive: flush_cache needs "
                                  << "cache_flush_cpu_non_first_arg from the TVM runtime";
    }
    flush_ = *f;
  }
  bool enabled() const { return flush_ != nullptr; }
  void operator()(tvm::ffi::PackedArgs args) {
    tvm::ffi::Any rv;
    flush_.CallPacked(args, &rv);
    ++count_;
  }
  int64_t count() const { return count_; }

 private:
  tvm::ffi::Function flush_{nullptr};
  int64_t count_ = 0;
};

void RunLoop(const tvm::ffi::Function& func, tvm::ffi::PackedArgs args, const TimerConfig& config,
             const std::function<bool(const std::vector<double>&)>& should_stop,
             const DeviceSync& sync, CacheFlusher& flush, Clock::time_point start,
             TimerResult* result) {
  tvm::ffi::Any rv;
  // One untimed warm-up call: first-touch page faults, lazy module init, clock ramp-up.
  func.CallPacked(args, &rv);
  sync();
  result->warmup_s = Seconds(start, Clock::now());

  auto timed_call = [&]() -> double {
    if (flush.enabled()) flush(args);
    const auto t0 = Clock::now();
    func.CallPacked(args, &rv);
    sync();
    return Seconds(t0, Clock::now());
  };

  const double wanted = config.min_batch_ms * 1e-3;
  int64_t number = config.number;
  if (number <= 0) {
    // Calibrate on warm calls (the warm-up itself is often far slower).  A preempted
    // call only ever looks slower, so the fastest of a few short calls is the estimate.
    double one = timed_call();
    for (int i = 1; i < kCalibrationCalls && one < wanted; ++i) one = std::min(one, timed_call());
    number = CallsFor(wanted, one);
  }
  const double budget_s = config.max_wall_ms > 0 ? config.max_wall_ms * 1e-3
                                                 : std::numeric_limits<double>::infinity();
  std::vector<double>& means = result->batch_means;
  while (static_cast<int64_t>(means.size()) < config.max_batches) {
    if (!means.empty() && config.cooldown_ms > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(config.cooldown_ms));
    }
    double total = 0.0;
    if (flush.enabled()) {
      for (int64_t i = 0; i < number; ++i) total += timed_call();
    } else {
      // Time the whole batch at once so the timer's own overhead is amortised.
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < number; ++i) func.CallPacked(args, &rv);
      sync();
      total = Seconds(t0, Clock::now());
    }
    result->calls += number;
    means.push_back(total / static_cast<double>(number));
    if (config.number <= 0 && total < 0.5 * wanted) {
      // Calibration was fooled by a preempted call: grow the batch for the next ones.
      number = std::max(number, CallsFor(wanted, means.back()));
    }
    if (should_stop(means)) break;
    if (Seconds(start, Clock::now()) >= budget_s) {
      result->budget_exhausted = true;
      break;
    }
  }
  result->number = number;
}

}  // namespace

TimerResult TimeAdaptive(const tvm::ffi::Function& func, tvm::ffi::PackedArgs args,
                         const TimerConfig& config,
                         const std::function<bool(const std::vector<double>&)>& should_stop) {
  TimerResult result;
  // Setup failures throw: no candidate could be timed in this process.
  DeviceSync sync(config);
  CacheFlusher flush(config.flush_cache);
  const auto start = Clock::now();
  try {
    RunLoop(func, args, config, should_stop, sync, flush, start, &result);
  } catch (const tvm::ffi::Error& err) {
    result.error = err.kind() + ": " + err.message();
  } catch (const std::exception& err) {
    result.error = std::string("C++ exception: ") + err.what();
  }
  if (!result.error.empty()) {
    // A failed measurement reports no partial timings: they would look like a result.
    result.batch_means.clear();
    result.calls = 0;
    result.number = 0;
  }
  result.flushes = flush.count();
  result.wall_s = Seconds(start, Clock::now());
  return result;
}

std::string ResultToJSON(const TimerResult& result, double estimate, double cv, bool converged) {
  std::ostringstream os;
  os << std::setprecision(17);
  auto num = [&os](double v) {
    if (std::isfinite(v)) {
      os << v;
    } else {
      os << "null";
    }
  };
  os << "{\"batch_means\":[";
  for (size_t i = 0; i < result.batch_means.size(); ++i) {
    if (i) os << ",";
    num(result.batch_means[i]);
  }
  os << "],\"number\":" << result.number << ",\"calls\":" << result.calls << ",\"warmup_s\":";
  num(result.warmup_s);
  os << ",\"wall_s\":";
  num(result.wall_s);
  os << ",\"converged\":" << (converged ? "true" : "false")
     << ",\"budget_exhausted\":" << (result.budget_exhausted ? "true" : "false")
     << ",\"flushes\":" << result.flushes << ",\"mean\":";
  num(estimate);
  os << ",\"cv\":";
  num(cv);
  os << ",\"error\":";
  if (result.error.empty()) {
    os << "null";
  } else {
    os << Quoted(result.error);
  }
  os << "}";
  return os.str();
}

}  // namespace adatune
