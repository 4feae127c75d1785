/*!
 * \file policy_fields.h
 * \brief Filling PolicyParams from a "name=value" string or positional FFI arguments.
 *
 * ADATUNE_POLICY_FIELD_LIST must list PolicyParams' fields in declaration order, which
 * is also the positional order of adatune.should_stop / adatune.estimate and the field
 * order of the Python StopPolicy dataclass (tests/test_policy.py checks they agree).
 */
#ifndef ADATUNE_POLICY_FIELDS_H_
#define ADATUNE_POLICY_FIELDS_H_

#include <tvm/ffi/function.h>

#include <cstdint>
#include <limits>
#include <string>

#include "args.h"
#include "policy.h"

#define ADATUNE_POLICY_FIELD_LIST(X) \
  X(int64_t, min_batches)            \
  X(int64_t, max_batches)            \
  X(double, min_converge_coef)       \
  X(double, regime_tol)              \
  X(double, regime_k)                \
  X(double, regime_window)           \
  X(int64_t, min_stable)             \
  X(double, stable_ratio)            \
  X(double, last_tol)                \
  X(double, warmup_max)              \
  X(int64_t, settle_batches)         \
  X(double, max_rel_se)              \
  X(int64_t, max_drop)               \
  X(int64_t, fallback_drop)          \
  X(bool, robust_estimate)           \
  X(int64_t, last_k)                 \
  X(double, tail_tol)

namespace adatune {

/*! \brief How many fields ADATUNE_POLICY_FIELD_LIST holds. */
constexpr int kPolicyFieldCount = 0
#define ADATUNE_COUNT_FIELD(type, name) +1
    ADATUNE_POLICY_FIELD_LIST(ADATUNE_COUNT_FIELD);
#undef ADATUNE_COUNT_FIELD

inline bool ParseValue(const std::string& text, int64_t* out) {
  try {
    size_t used = 0;
    *out = std::stoll(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

inline bool ParseValue(const std::string& text, double* out) {
  // "inf" is a legitimate "no limit"; NaN never is.
  if (text == "inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "nan" || text == "-inf") return false;
  try {
    size_t used = 0;
    *out = std::stod(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

inline bool ParseValue(const std::string& text, bool* out) {
  if (text == "True" || text == "true" || text == "1") {
    *out = true;
  } else if (text == "False" || text == "false" || text == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

/*! \return "" on success, else an error naming the field. */
inline std::string SetPolicyField(PolicyParams* p, const std::string& key,
                                  const std::string& value) {
#define ADATUNE_SET_FIELD(type, name)                                        \
  if (key == #name) {                                                        \
    return ParseValue(value, &p->name) ? std::string()                       \
                                       : "bad value '" + value + "' for " #name; \
  }
  ADATUNE_POLICY_FIELD_LIST(ADATUNE_SET_FIELD)
#undef ADATUNE_SET_FIELD
  return "unknown policy parameter '" + key + "'";
}

/*!
 * \brief Positional fields from args[first]; trailing ones may be omitted and keep their
 *        defaults. A wrong type raises AdatuneArgumentTypeError naming the field.
 */
inline void SetPolicyFromArgs(PolicyParams* p, tvm::ffi::PackedArgs args, int first,
                              const char* fname) {
  int i = first;
#define ADATUNE_SET_POSITIONAL(type, name)                   \
  if (i < args.size()) p->name = ArgAs<type>(args, i, fname, #name); \
  ++i;
  ADATUNE_POLICY_FIELD_LIST(ADATUNE_SET_POSITIONAL)
#undef ADATUNE_SET_POSITIONAL
}

}  // namespace adatune

#endif  // ADATUNE_POLICY_FIELDS_H_
