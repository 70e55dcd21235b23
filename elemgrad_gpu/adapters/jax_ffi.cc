// The XLA FFI handler of elemgrad_gpu's JAX adapter (adapters/jax_primitive.py): one generic
// handler, "elemgrad_elementwise", that runs a fused kernel's compiled C loop on XLA's own
// buffers, in place (no copy, no host callback).
//
// The jitted program names its kernel by a key (a hash of the kernel's compiled module), an
// attribute of the custom call; the loop's address lives only in this library's table, filled
// from Python (eg_jax_register) when the function is traced in this process. A program that
// outlives the process (JAX's compilation cache) so carries no stale address: a key missing
// from the table is an error naming the fix.
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// The C loop of backends/c/elemwise.c: input pointers, then output pointers; steps in bytes.
typedef int (*eg_loop_t)(char **args, std::intptr_t n, const std::intptr_t *steps);

static std::mutex table_lock;
static std::unordered_map<std::string, eg_loop_t> table;

extern "C" int eg_jax_register(const char *key, void *loop) {
  std::lock_guard<std::mutex> guard(table_lock);
  table[std::string(key)] = reinterpret_cast<eg_loop_t>(loop);
  return static_cast<int>(table.size());
}

static eg_loop_t find(std::string_view key) {
  std::lock_guard<std::mutex> guard(table_lock);
  auto it = table.find(std::string(key));
  return it == table.end() ? nullptr : it->second;
}

static ffi::Error refuse(const std::string &what) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "elemgrad_gpu: " + what);
}

// Check each buffer's type and length; fill the pointers and steps (0 for a one-value input).
static ffi::Error Elementwise(ffi::RemainingArgs args, ffi::RemainingRets rets, std::string_view kernel,
                              int64_t n_inputs, int64_t n_outputs) {
  eg_loop_t loop = find(kernel);
  if (loop == nullptr)
    return refuse("kernel " + std::string(kernel) + " is not loaded in this process: call the "
                  "function made by fn.to_jax() (which loads it) before running a program that uses it");
  if (static_cast<int64_t>(args.size()) != n_inputs || static_cast<int64_t>(rets.size()) != n_outputs)
    return refuse("the custom call has the wrong number of operands for kernel " + std::string(kernel));
  std::vector<char *> pointers(n_inputs + n_outputs);
  std::vector<std::intptr_t> steps(n_inputs + n_outputs);
  size_t n = 0;
  ffi::DataType dtype = ffi::DataType::INVALID;
  for (int64_t m = 0; m < n_outputs; ++m) {
    auto out = rets.get<ffi::AnyBuffer>(m);
    if (out.has_error()) return out.error();
    ffi::AnyBuffer buffer = **out;
    if (m == 0) { n = buffer.element_count(); dtype = buffer.element_type(); }
    if (buffer.element_count() != n || buffer.element_type() != dtype)
      return refuse("the outputs differ in length or type");
    pointers[n_inputs + m] = static_cast<char *>(buffer.untyped_data());
    steps[n_inputs + m] = static_cast<std::intptr_t>(ffi::ByteWidth(dtype));
  }
  if (dtype != ffi::DataType::F32 && dtype != ffi::DataType::F64)
    return refuse("the kernels compute in float32 or float64 only");
  for (int64_t j = 0; j < n_inputs; ++j) {
    auto in = args.get<ffi::AnyBuffer>(j);
    if (in.has_error()) return in.error();
    if (in->element_type() != dtype) return refuse("an input's type differs from the outputs'");
    size_t count = in->element_count();
    if (count != n && count != 1) return refuse("an input's length is neither the outputs' nor 1");
    pointers[j] = static_cast<char *>(in->untyped_data());
    steps[j] = count == 1 ? 0 : static_cast<std::intptr_t>(ffi::ByteWidth(dtype));
  }
  if (n > 0) loop(pointers.data(), static_cast<std::intptr_t>(n), steps.data());  // FP flags: ignored, as XLA does
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(EgElementwise, Elementwise,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<std::string_view>("kernel")
                                  .Attr<int64_t>("n_inputs")
                                  .Attr<int64_t>("n_outputs"));
