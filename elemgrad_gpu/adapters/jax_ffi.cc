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

#ifdef __linux__
#include <sys/mman.h>
#endif

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

// Where an input's dimensions are all 1 from `t` on (a one-value input has t = 0; under vmap a
// scalar parameter becomes (B, 1, ...): t = 1), its first t dimensions those of the outputs.
static int64_t ones_from(ffi::Span<const int64_t> dims) {
  int64_t t = static_cast<int64_t>(dims.size());
  while (t > 0 && dims[t - 1] == 1) --t;
  return t;
}

// The loop over rows of the outputs' last dimensions from `split` on: full inputs step through
// memory, inputs that are constant along a row (ones from `t <= split`) are read with step 0.
static void run_rows(eg_loop_t loop, std::vector<char *> &base, const std::vector<int64_t> &ones, int64_t n_inputs,
                     ffi::Span<const int64_t> out_dims, int64_t split, std::intptr_t itemsize) {
  const int64_t total = static_cast<int64_t>(base.size());
  int64_t rows = 1, length = 1;
  for (int64_t d = 0; d < split; ++d) rows *= out_dims[d];
  for (int64_t d = split; d < static_cast<int64_t>(out_dims.size()); ++d) length *= out_dims[d];
  std::vector<char *> pointers(total);
  std::vector<std::intptr_t> steps(total);
  for (int64_t k = 0; k < total; ++k) steps[k] = (k < n_inputs && ones[k] <= split) ? 0 : itemsize;
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t k = 0; k < total; ++k) {
      if (steps[k]) { pointers[k] = base[k] + row * length * itemsize; continue; }
      int64_t index = 0, rest = row, scale = 1;  // the row's index in the input's first ones[k] dimensions
      for (int64_t d = split - 1; d >= 0; --d) {
        const int64_t i = rest % out_dims[d];
        rest /= out_dims[d];
        if (d < ones[k]) { index += i * scale; scale *= out_dims[d]; }
      }
      pointers[k] = base[k] + index * itemsize;
    }
    if (length > 0) loop(pointers.data(), static_cast<std::intptr_t>(length), steps.data());
  }
}

// XLA's CPU outputs are fresh allocations of 4 KiB pages, first touched by the loop: at n = 10^7
// the page faults cost several times the loop itself. Where the kernel allows it (transparent huge
// pages in "madvise" mode), the 2 MiB-aligned inside of a large output is marked for huge pages
// before its first touch, as NumPy does for its own arrays; it changes no byte, only the page size.
static void advise_huge_pages(char *data, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t huge = std::uintptr_t(1) << 21;
  if (bytes < (int64_t(1) << 22)) return;
  const std::uintptr_t start = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) & ~(huge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(data) + static_cast<std::uintptr_t>(bytes)) & ~(huge - 1);
  if (end > start) madvise(reinterpret_cast<void *>(start), end - start, MADV_HUGEPAGE);  // advice only: errors ignored
#else
  (void)data, (void)bytes;
#endif
}

// Check each buffer's type and shape, then run the loop on them (FP flags ignored, as XLA does).
static ffi::Error Elementwise(ffi::RemainingArgs args, ffi::RemainingRets rets, std::string_view kernel,
                             int64_t n_inputs, int64_t n_outputs) {
  eg_loop_t loop = find(kernel);
  if (loop == nullptr)
    return refuse("kernel " + std::string(kernel) + " is not loaded in this process: call the "
                  "function made by fn.to_jax() (which loads it) before running a program that uses it");
  if (static_cast<int64_t>(args.size()) != n_inputs || static_cast<int64_t>(rets.size()) != n_outputs || n_outputs < 1)
    return refuse("the custom call has the wrong number of operands for kernel " + std::string(kernel));
  std::vector<char *> base(n_inputs + n_outputs);
  std::vector<int64_t> ones(n_inputs);
  auto first = rets.get<ffi::AnyBuffer>(0);
  if (first.has_error()) return first.error();
  const ffi::DataType dtype = (*first)->element_type();
  const auto out_dims = (*first)->dimensions();
  if (dtype != ffi::DataType::F32 && dtype != ffi::DataType::F64)
    return refuse("the kernels compute in float32 or float64 only");
  for (int64_t m = 0; m < n_outputs; ++m) {
    auto out = rets.get<ffi::AnyBuffer>(m);
    if (out.has_error()) return out.error();
    if ((*out)->element_type() != dtype || (*out)->element_count() != (*first)->element_count())
      return refuse("the outputs differ in length or type");
    base[n_inputs + m] = static_cast<char *>((*out)->untyped_data());
    advise_huge_pages(base[n_inputs + m], static_cast<int64_t>((*out)->size_bytes()));
  }
  const int64_t rank = static_cast<int64_t>(out_dims.size());
  int64_t split = 0;
  for (int64_t j = 0; j < n_inputs; ++j) {
    auto in = args.get<ffi::AnyBuffer>(j);
    if (in.has_error()) return in.error();
    if (in->element_type() != dtype) return refuse("an input's type differs from the outputs'");
    const auto dims = in->dimensions();
    ones[j] = in->element_count() == (*first)->element_count() ? rank : ones_from(dims);
    if (ones[j] < rank) {
      if (static_cast<int64_t>(dims.size()) != rank) return refuse("an input's rank differs from the outputs'");
      for (int64_t d = 0; d < ones[j]; ++d)
        if (dims[d] != out_dims[d]) return refuse("an input's shape does not broadcast to the outputs'");
      split = ones[j] > split ? ones[j] : split;
    }
    base[j] = static_cast<char *>(in->untyped_data());
  }
  run_rows(loop, base, ones, n_inputs, out_dims, split, static_cast<std::intptr_t>(ffi::ByteWidth(dtype)));
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(EgElementwise, Elementwise,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<std::string_view>("kernel")
                                  .Attr<int64_t>("n_inputs")
                                  .Attr<int64_t>("n_outputs"));
