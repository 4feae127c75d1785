/*!
 * \file args.h
 * \brief Reading the arguments of the plugin's global functions, and the errors for bad ones.
 *
 * The C++ counterpart of python/adatune/_checks.py: every failure names the global
 * function and the argument. A wrong type raises kind AdatuneArgumentTypeError, a wrong
 * value AdatuneArgumentError; python/adatune/measure/_plugin.py registers those kinds as
 * adatune.errors.ArgumentTypeError (a TypeError) and ArgumentError (a ValueError), so
 * the plugin and the Python functions raise the same classes. A process that loads the
 * library without adatune sees them as RuntimeError, with the same message.
 *
 * Numbers follow Python's rules, not FFI's conversions: an int field takes an int only
 * (not a bool or a float), a float field an int or a float (not a bool), a bool field a
 * bool only.
 */
#ifndef ADATUNE_ARGS_H_
#define ADATUNE_ARGS_H_

#include <tvm/ffi/any.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <sstream>
#include <string>

#define ADATUNE_THROW_ARG_VALUE TVM_FFI_THROW(AdatuneArgumentError)
#define ADATUNE_THROW_ARG_TYPE TVM_FFI_THROW(AdatuneArgumentTypeError)

namespace adatune {

/*! \brief A short description of a received value for an error message. */
inline std::string Describe(tvm::ffi::AnyView v) {
  std::ostringstream os;
  switch (v.type_index()) {
    case tvm::ffi::TypeIndex::kTVMFFINone:
      return "None";
    case tvm::ffi::TypeIndex::kTVMFFIBool:
      return *v.as<bool>() ? "True" : "False";
    case tvm::ffi::TypeIndex::kTVMFFIInt:
      os << *v.as<int64_t>();
      return os.str();
    case tvm::ffi::TypeIndex::kTVMFFIFloat:
      os << *v.as<double>();
      return os.str();
    default:
      if (auto text = v.as<tvm::ffi::String>()) return "'" + std::string(*text) + "'";
      return "a value of type " + v.GetTypeKey();
  }
}

/*! \brief Strict readers: false when the value has the wrong type (see the file comment). */
inline bool ReadArg(tvm::ffi::AnyView v, int64_t* out) {
  auto x = v.as<int64_t>();
  if (!x.has_value()) return false;
  *out = *x;
  return true;
}

inline bool ReadArg(tvm::ffi::AnyView v, double* out) {
  if (v.type_index() == tvm::ffi::TypeIndex::kTVMFFIInt) {
    *out = static_cast<double>(*v.as<int64_t>());
    return true;
  }
  auto x = v.as<double>();
  if (!x.has_value()) return false;
  *out = *x;
  return true;
}

inline bool ReadArg(tvm::ffi::AnyView v, bool* out) {
  auto x = v.as<bool>();
  if (!x.has_value()) return false;
  *out = *x;
  return true;
}

inline const char* TypeWord(const int64_t*) { return "an int"; }
inline const char* TypeWord(const double*) { return "a number"; }
inline const char* TypeWord(const bool*) { return "a bool"; }

/*! \brief `args[i]` as T, or an AdatuneArgumentTypeError naming `fname` and `name`. */
template <typename T>
T ArgAs(tvm::ffi::PackedArgs args, int i, const char* fname, const char* name) {
  T out{};
  if (!ReadArg(args[i], &out)) {
    ADATUNE_THROW_ARG_TYPE << fname << ": " << name << " (argument " << i << ") must be "
                           << TypeWord(&out) << ", got " << Describe(args[i]);
  }
  return out;
}

}  // namespace adatune

#endif  // ADATUNE_ARGS_H_
