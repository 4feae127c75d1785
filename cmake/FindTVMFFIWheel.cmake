# Locate the tvm_ffi CMake package that ships inside the apache-tvm-ffi wheel.
# The plugin only needs libtvm_ffi, so TVM itself is not required to build it.
if(NOT tvm_ffi_DIR)
  if(NOT Python_EXECUTABLE)
    find_package(Python COMPONENTS Interpreter REQUIRED)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -m tvm_ffi.config --cmakedir
    OUTPUT_VARIABLE _adatune_tvm_ffi_dir
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _adatune_rc)
  if(NOT _adatune_rc EQUAL 0 OR NOT _adatune_tvm_ffi_dir)
    message(FATAL_ERROR
      "adatune: cannot find apache-tvm-ffi from ${Python_EXECUTABLE}. "
      "Install it first: pip install apache-tvm-ffi==0.1.14.post1")
  endif()
  set(tvm_ffi_DIR "${_adatune_tvm_ffi_dir}")
endif()
find_package(tvm_ffi CONFIG REQUIRED)
message(STATUS "adatune: using tvm_ffi from ${tvm_ffi_DIR}")
