/*!
 * \file registry.cc
 * \brief The TVM-FFI global functions of libadatune_runtime.so.
 *
 *  adatune.time_adaptive(mod, func_name, device_type, device_id, number, min_batch_ms,
 *                        cooldown_ms, flush_cache, max_wall_ms, policy, *kernel_args)
 *      -> Bytes (JSON: batch_means, number, calls, warmup_s, wall_s, converged,
 *                budget_exhausted, flushes, mean, cv, error)
 *  adatune.should_stop(batch_means, <PolicyParams fields in declaration order>) -> bool
 *  adatune.estimate(batch_means, <PolicyParams fields>) -> float
 *  adatune.process_info() -> "pid:ppid"
 *
 *  Two failure channels: a bad argument raises (AdatuneArgumentError or
 *  AdatuneArgumentTypeError, naming it; see args.h), while a kernel that fails while it
 *  is timed is a result: the JSON's "error" holds its message and the process keeps
 *  serving. A caller can therefore tell "this call is wrong" from "this candidate is bad".
 *
 *  `policy` is "name=value;name=value": a flat string crosses RPC unchanged, where an
 *  Array or Map does not.
 */
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>
#include <tvm/ffi/string.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "policy.h"
#include "policy_fields.h"
#include "timer.h"

namespace adatune {
namespace {

namespace ffi = tvm::ffi;

constexpr const char* kTimeAdaptive = "adatune.time_adaptive";

PolicyParams ParsePolicy(const std::string& text) {
  PolicyParams params;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": policy: malformed item '" << item
                              << "' (expected name=value)";
    }
    std::string error = SetPolicyField(&params, item.substr(0, eq), item.substr(eq + 1));
    if (!error.empty()) ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": policy: " << error;
  }
  std::string error = ValidatePolicy(params);
  if (!error.empty()) ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": policy: " << error;
  return params;
}

template <typename T>
T ObjectArg(ffi::PackedArgs args, int i, const char* name, const char* what) {
  auto v = args[i].try_cast<T>();
  if (!v.has_value()) {
    ADATUNE_THROW_ARG_TYPE << kTimeAdaptive << ": " << name << " (argument " << i
                           << ") must be " << what << ", got " << Describe(args[i]);
  }
  return *v;
}

int32_t Int32Arg(ffi::PackedArgs args, int i, const char* name) {
  const int64_t v = ArgAs<int64_t>(args, i, kTimeAdaptive, name);
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": " << name << " must fit in int32, got " << v;
  }
  return static_cast<int32_t>(v);
}

// A finite number of milliseconds in [0, high] ((0, high] unless zero_ok; high = inf:
// no upper bound), named in errors.
double MsArg(ffi::PackedArgs args, int i, const char* name, bool zero_ok, double high) {
  const double v = ArgAs<double>(args, i, kTimeAdaptive, name);
  if (!std::isfinite(v)) {
    ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": " << name << " must be a finite number, got "
                            << v;
  }
  if (v < 0.0 || (v == 0.0 && !zero_ok) || v > high) {
    std::ostringstream bound;
    if (std::isinf(high)) {
      bound << (zero_ok ? ">= 0" : "> 0");
    } else {
      bound << "in " << (zero_ok ? "[0, " : "(0, ") << high << "]";
    }
    ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": " << name << " must be " << bound.str()
                            << ", got " << v;
  }
  return v;
}

void TimeAdaptivePacked(ffi::PackedArgs args, ffi::Any* rv) {
  constexpr int kFixed = 10;
  if (args.size() < kFixed) {
    ADATUNE_THROW_ARG_TYPE << kTimeAdaptive << " expects at least " << kFixed
                           << " arguments (mod, func_name, device_type, device_id, number, "
                              "min_batch_ms, cooldown_ms, flush_cache, max_wall_ms, policy), got "
                           << args.size();
  }
  ffi::Module mod = ObjectArg<ffi::Module>(args, 0, "mod", "a runtime module");
  std::string name = ObjectArg<ffi::String>(args, 1, "func_name", "a str");
  if (name.empty()) name = "main";
  TimerConfig config;
  config.device_type = Int32Arg(args, 2, "device_type");
  config.device_id = Int32Arg(args, 3, "device_id");
  config.number = ArgAs<int64_t>(args, 4, kTimeAdaptive, "number");
  if (config.number < 0 || config.number > kMaxNumber) {
    ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": number must be in [0, " << kMaxNumber
                            << "] (0 = automatic), got " << config.number;
  }
  config.min_batch_ms = MsArg(args, 5, "min_batch_ms", false, kMaxMs);
  config.cooldown_ms = MsArg(args, 6, "cooldown_ms", true, kMaxMs);
  config.flush_cache = ArgAs<bool>(args, 7, kTimeAdaptive, "flush_cache");
  config.max_wall_ms = MsArg(args, 8, "max_wall_ms", true, std::numeric_limits<double>::infinity());
  PolicyParams policy = ParsePolicy(ObjectArg<ffi::String>(args, 9, "policy", "a str"));
  config.max_batches = policy.max_batches;

  ffi::Optional<ffi::Function> func = mod->GetFunction(name, /*query_imports=*/true);
  if (!func.has_value()) {
    ADATUNE_THROW_ARG_VALUE << kTimeAdaptive << ": the module has no function '" << name << "'";
  }
  TimerResult result = TimeAdaptive(
      *func, args.Slice(kFixed), config,
      [&policy](const std::vector<double>& means) { return ShouldStop(means, policy); });
  const bool ran = result.error.empty() && !result.batch_means.empty();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  *rv = ffi::Bytes(ResultToJSON(result, ran ? Estimate(result.batch_means, policy) : nan,
                                ran ? BatchCV(result.batch_means) : nan,
                                ran && RuleMet(result.batch_means, policy)));
}

// batch_means and the policy of adatune.should_stop / adatune.estimate, checked as the
// Python functions check them: the same error classes, the arguments named.
std::vector<double> PolicyCall(ffi::PackedArgs args, const char* fname, PolicyParams* params) {
  if (args.size() < 1) {
    ADATUNE_THROW_ARG_TYPE << fname << " expects batch_means, then up to " << kPolicyFieldCount
                           << " policy fields; got no arguments";
  }
  if (args.size() > 1 + kPolicyFieldCount) {
    ADATUNE_THROW_ARG_TYPE << fname << " takes batch_means and at most " << kPolicyFieldCount
                           << " policy fields, got " << args.size() << " arguments";
  }
  // The policy first, then the batch means: the order of the Python functions.
  SetPolicyFromArgs(params, args, 1, fname);
  std::string error = ValidatePolicy(*params);
  if (!error.empty()) ADATUNE_THROW_ARG_VALUE << fname << ": " << error;
  auto values = args[0].try_cast<ffi::Array<ffi::Any>>();
  if (!values.has_value()) {
    ADATUNE_THROW_ARG_TYPE << fname << ": batch_means must be a sequence of numbers, got "
                           << Describe(args[0]);
  }
  std::vector<double> means;
  means.reserve(values->size());
  for (const ffi::Any& item : *values) {
    double v = 0.0;
    if (!ReadArg(ffi::AnyView(item), &v)) {
      ADATUNE_THROW_ARG_TYPE << fname << ": batch_means[" << means.size()
                             << "] must be a number, got " << Describe(ffi::AnyView(item));
    }
    means.push_back(v);
  }
  error = CheckBatchMeans(means);
  if (!error.empty()) ADATUNE_THROW_ARG_VALUE << fname << ": " << error;
  return means;
}

}  // namespace

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def_packed(kTimeAdaptive, TimeAdaptivePacked)
      .def_packed("adatune.should_stop",
                  [](ffi::PackedArgs args, ffi::Any* rv) {
                    PolicyParams p;
                    std::vector<double> means = PolicyCall(args, "adatune.should_stop", &p);
                    *rv = ShouldStop(means, p);
                  })
      .def_packed("adatune.estimate",
                  [](ffi::PackedArgs args, ffi::Any* rv) {
                    PolicyParams p;
                    std::vector<double> means = PolicyCall(args, "adatune.estimate", &p);
                    *rv = Estimate(means, p);
                  })
      // The RPC server forks one process per session: its parent is the server itself,
      // which tells a client which server of a tracker's pool served it.
      .def("adatune.process_info", []() {
        return ffi::String(std::to_string(getpid()) + ":" + std::to_string(getppid()));
      });
}

}  // namespace adatune
