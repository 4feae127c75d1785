/*!
 * \file registry.cc
 * \brief The TVM-FFI global functions of libadatune_runtime.so.
 *
 *  adatune.time_adaptive(mod, func_name, device_type, device_id, number, min_batch_ms,
 *                        cooldown_ms, flush_cache, max_wall_ms, policy, *kernel_args)
 *      -> Bytes (JSON: batch_means, number, calls, warmup_s, wall_s, converged,
 *                budget_exhausted, mean, cv)
 *  adatune.should_stop(batch_means, <PolicyParams fields in declaration order>) -> bool
 *  adatune.estimate(batch_means, <PolicyParams fields>) -> float
 *  adatune.process_info() -> "pid:ppid"
 *  adatune.version() -> str
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

#include <sstream>
#include <string>
#include <vector>

#include "policy.h"
#include "policy_fields.h"
#include "timer.h"

namespace adatune {
namespace {

namespace ffi = tvm::ffi;

PolicyParams ParsePolicy(const std::string& text) {
  PolicyParams params;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      TVM_FFI_THROW(ValueError) << "adatune.time_adaptive: malformed policy item '" << item
                                << "' (expected name=value)";
    }
    std::string error = SetPolicyField(&params, item.substr(0, eq), item.substr(eq + 1));
    if (!error.empty()) TVM_FFI_THROW(ValueError) << "adatune.time_adaptive: " << error;
  }
  std::string error = ValidatePolicy(params);
  if (!error.empty()) TVM_FFI_THROW(ValueError) << "adatune.time_adaptive: " << error;
  return params;
}

std::vector<double> ToVector(const ffi::Array<double>& values) {
  return std::vector<double>(values.begin(), values.end());
}

void TimeAdaptivePacked(ffi::PackedArgs args, ffi::Any* rv) {
  constexpr int kFixed = 10;
  if (args.size() < kFixed) {
    TVM_FFI_THROW(TypeError) << "adatune.time_adaptive expects at least " << kFixed
                             << " arguments, got " << args.size();
  }
  ffi::Module mod = args[0].cast<ffi::Module>();
  std::string name = args[1].cast<ffi::String>();
  if (name.empty()) name = "main";
  TimerConfig config;
  config.device_type = args[2].cast<int32_t>();
  config.device_id = args[3].cast<int32_t>();
  config.number = args[4].cast<int64_t>();
  config.min_batch_ms = args[5].cast<double>();
  config.cooldown_ms = args[6].cast<double>();
  config.flush_cache = args[7].cast<bool>();
  config.max_wall_ms = args[8].cast<double>();
  PolicyParams policy = ParsePolicy(args[9].cast<ffi::String>());
  config.max_batches = policy.max_batches;
  if (config.number < 0) TVM_FFI_THROW(ValueError) << "number must be >= 0 (0 = automatic)";
  if (!(config.min_batch_ms > 0)) TVM_FFI_THROW(ValueError) << "min_batch_ms must be > 0";
  if (!(config.cooldown_ms >= 0)) TVM_FFI_THROW(ValueError) << "cooldown_ms must be >= 0";
  if (!(config.max_wall_ms >= 0)) TVM_FFI_THROW(ValueError) << "max_wall_ms must be >= 0";

  ffi::Optional<ffi::Function> func = mod->GetFunction(name, /*query_imports=*/true);
  if (!func.has_value()) {
    TVM_FFI_THROW(ValueError) << "adatune.time_adaptive: the module has no function '" << name
                              << "'";
  }
  TimerResult result = TimeAdaptive(
      *func, args.Slice(kFixed), config,
      [&policy](const std::vector<double>& means) { return ShouldStop(means, policy); });
  // Converged means the rule itself was met, not that max_batches forced the stop.
  PolicyParams uncapped = policy;
  uncapped.max_batches = static_cast<int64_t>(result.batch_means.size()) + 1;
  if (uncapped.max_batches < policy.max_batches) uncapped.max_batches = policy.max_batches;
  result.converged = !result.batch_means.empty() && ShouldStop(result.batch_means, uncapped);
  std::string json = ResultToJSON(result, Estimate(result.batch_means, policy),
                                  BatchCV(result.batch_means));
  *rv = ffi::Bytes(json);
}

PolicyParams PolicyFromArgs(ffi::PackedArgs args, const char* fname) {
  PolicyParams params;
  std::string error = SetPolicyFromArgs(&params, args.Slice(1));
  if (error.empty()) error = ValidatePolicy(params);
  if (!error.empty()) TVM_FFI_THROW(ValueError) << fname << ": " << error;
  return params;
}

}  // namespace

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def_packed("adatune.time_adaptive", TimeAdaptivePacked)
      .def_packed("adatune.should_stop",
                  [](ffi::PackedArgs args, ffi::Any* rv) {
                    PolicyParams p = PolicyFromArgs(args, "adatune.should_stop");
                    *rv = ShouldStop(ToVector(args[0].cast<ffi::Array<double>>()), p);
                  })
      .def_packed("adatune.estimate",
                  [](ffi::PackedArgs args, ffi::Any* rv) {
                    PolicyParams p = PolicyFromArgs(args, "adatune.estimate");
                    *rv = Estimate(ToVector(args[0].cast<ffi::Array<double>>()), p);
                  })
      // The RPC server forks one process per session: its parent is the server itself,
      // which tells a client which server of a tracker's pool served it.
      .def("adatune.process_info",
           []() {
             return ffi::String(std::to_string(getpid()) + ":" + std::to_string(getppid()));
           })
      .def("adatune.version", []() { return ffi::String("0.1.0"); });
}

}  // namespace adatune
