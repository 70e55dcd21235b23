// The XLA FFI handlers of elemgrad_gpu's JAX adapter (adapters/jax_primitive.py): one generic
// target, "elemgrad_elementwise", with a handler per platform: on the CPU (EgElementwise) it runs
// a fused kernel's compiled C loop on XLA's own buffers, in place (no copy, no host callback);
// on a CUDA GPU (EgElementwiseCuda) it launches the kernel's NVRTC-compiled functions on XLA's
// stream, through the driver API loaded at run time (dlopen of libcuda.so.1): building this
// library needs no CUDA header or library, and the CPU handler works on machines without one.
//
// The jitted program names its kernel by a key (a hash of the kernel's compiled module), an
// attribute of the custom call; the loop's address lives only in this library's table, filled
// from Python (eg_jax_register) when the function is traced in this process. A program that
// outlives the process (JAX's compilation cache) so carries no stale address: a key missing
// from the table is an error naming the fix.
#include <dlfcn.h>

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

// ---- The CUDA handler ---------------------------------------------------------------------
// The driver API's few types and functions used here, declared as cuda.h declares them.
typedef int CUresult;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;
typedef CUresult (*eg_launch_t)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                CUstream, void **, void **);
typedef CUresult (*eg_copy_t)(CUdeviceptr, const void *, size_t, CUstream);
typedef CUresult (*eg_error_string_t)(CUresult, const char **);
typedef struct CUctx_st *CUcontext;
typedef CUresult (*eg_stream_context_t)(CUstream, CUcontext *);
typedef CUresult (*eg_push_t)(CUcontext);
typedef CUresult (*eg_pop_t)(CUcontext *);

struct EgDriver {
  eg_launch_t launch = nullptr;
  eg_copy_t copy = nullptr;
  eg_error_string_t error_string = nullptr;
  eg_stream_context_t stream_context = nullptr;
  eg_push_t push = nullptr;
  eg_pop_t pop = nullptr;
  std::string why;  // empty when loaded
};

// libcuda.so.1, loaded on the first launch (XLA has loaded it already on a GPU).
static const EgDriver &driver() {
  static const EgDriver loaded = [] {
    EgDriver d;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char *error = dlerror();
      d.why = std::string("the CUDA driver (libcuda.so.1) cannot be loaded: ") + (error ? error : "?");
      return d;
    }
    d.launch = reinterpret_cast<eg_launch_t>(dlsym(library, "cuLaunchKernel"));
    d.copy = reinterpret_cast<eg_copy_t>(dlsym(library, "cuMemcpyHtoDAsync_v2"));
    d.error_string = reinterpret_cast<eg_error_string_t>(dlsym(library, "cuGetErrorString"));
    d.stream_context = reinterpret_cast<eg_stream_context_t>(dlsym(library, "cuStreamGetCtx"));
    d.push = reinterpret_cast<eg_push_t>(dlsym(library, "cuCtxPushCurrent_v2"));
    d.pop = reinterpret_cast<eg_pop_t>(dlsym(library, "cuCtxPopCurrent_v2"));
    if (!d.launch || !d.copy || !d.stream_context || !d.push || !d.pop)
      d.why = "libcuda.so.1 lacks one of cuLaunchKernel, cuMemcpyHtoDAsync_v2, cuStreamGetCtx, cuCtxPush/PopCurrent_v2";
    return d;
  }();
  return loaded;
}

// One function's kernels (backends/cuda/elemwise.cu) and their launch shape, as the CUDA backend
// launches them (backends/cuda/backend.py: Launch): threads per block, a cap on blocks (0: none).
struct EgCudaKernels {
  CUfunction vectorized, contiguous, strided;
  int64_t threads, cap;
};

static std::unordered_map<std::string, EgCudaKernels> cuda_table;

extern "C" int eg_jax_register_cuda(const char *key, void *vectorized, void *contiguous, void *strided,
                                    int64_t threads, int64_t cap) {
  std::lock_guard<std::mutex> guard(table_lock);
  cuda_table[std::string(key)] = EgCudaKernels{reinterpret_cast<CUfunction>(vectorized),
                                               reinterpret_cast<CUfunction>(contiguous),
                                               reinterpret_cast<CUfunction>(strided), threads, cap};
  return static_cast<int>(cuda_table.size());
}

static const EgCudaKernels *find_cuda(std::string_view key) {
  std::lock_guard<std::mutex> guard(table_lock);
  auto it = cuda_table.find(std::string(key));
  return it == cuda_table.end() ? nullptr : &it->second;
}

static ffi::Error driver_error(CUresult result, const char *what) {
  const char *text = nullptr;
  if (driver().error_string != nullptr) driver().error_string(result, &text);
  return ffi::Error(ffi::ErrorCode::kInternal, std::string("elemgrad_gpu: ") + what + " failed: " +
                                                   (text ? text : "CUDA error " + std::to_string(result)));
}

// The context of XLA's stream made current on this thread while the kernel is queued (the driver
// API needs one; XLA's and CuPy's are both the device's primary context), then the previous one.
class EgStreamContext {
 public:
  explicit EgStreamContext(CUstream stream) {
    CUcontext context = nullptr;
    result_ = driver().stream_context(stream, &context);
    if (result_ == 0) result_ = driver().push(context);
    pushed_ = result_ == 0;
  }
  ~EgStreamContext() {
    CUcontext previous = nullptr;
    if (pushed_) driver().pop(&previous);
  }
  CUresult result() const { return result_; }

 private:
  CUresult result_ = 0;
  bool pushed_ = false;
};

// The kernel's blocks: the work covered once, capped as the backend caps it.
static unsigned blocks_for(int64_t work, const EgCudaKernels &k) {
  int64_t blocks = (work + k.threads - 1) / k.threads;
  if (k.cap > 0 && blocks > k.cap) blocks = k.cap;
  if (blocks > 2147483647) blocks = 2147483647;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// The operands as the kernels take them: the buffers' device pointers, inputs then outputs.
struct EgOperands {
  std::vector<void *> pointers;
  std::vector<std::vector<int64_t>> in_dims;
  std::vector<int64_t> out_dims;
  int64_t n = 0, itemsize = 0;
};

static ffi::Error read_operands(ffi::RemainingArgs &args, ffi::RemainingRets &rets, int64_t n_inputs,
                                int64_t n_outputs, EgOperands &ops) {
  if (static_cast<int64_t>(args.size()) != n_inputs || static_cast<int64_t>(rets.size()) != n_outputs || n_outputs < 1)
    return refuse("the custom call has the wrong number of operands");
  auto first = rets.get<ffi::AnyBuffer>(0);
  if (first.has_error()) return first.error();
  const ffi::DataType dtype = (*first)->element_type();
  if (dtype != ffi::DataType::F32 && dtype != ffi::DataType::F64)
    return refuse("the kernels compute in float32 or float64 only");
  const auto dims = (*first)->dimensions();
  ops.out_dims.assign(dims.begin(), dims.end());
  ops.n = static_cast<int64_t>((*first)->element_count());
  ops.itemsize = static_cast<int64_t>(ffi::ByteWidth(dtype));
  for (int64_t j = 0; j < n_inputs; ++j) {
    auto in = args.get<ffi::AnyBuffer>(j);
    if (in.has_error()) return in.error();
    if (in->element_type() != dtype) return refuse("an input's type differs from the outputs'");
    const auto d = in->dimensions();
    ops.in_dims.emplace_back(d.begin(), d.end());
    ops.pointers.push_back(in->untyped_data());
  }
  for (int64_t m = 0; m < n_outputs; ++m) {
    auto out = rets.get<ffi::AnyBuffer>(m);
    if (out.has_error()) return out.error();
    if ((*out)->element_type() != dtype || static_cast<int64_t>((*out)->element_count()) != ops.n)
      return refuse("the outputs differ in length or type");
    ops.pointers.push_back((*out)->untyped_data());
  }
  return ffi::Error::Success();
}

// Each input's strides in elements over the outputs' shape (0 where broadcast): the layout that
// eg_strided reads (the shape, then the strides per input); empty when an input's shape does not
// broadcast to the outputs' as JAX's elementwise operands do (same rank, dimensions 1 or equal).
static std::vector<long long> strided_layout(const EgOperands &ops) {
  const size_t rank = ops.out_dims.size();
  std::vector<long long> layout(ops.out_dims.begin(), ops.out_dims.end());
  for (const auto &dims : ops.in_dims) {
    if (dims.size() != rank) return {};
    std::vector<long long> strides(rank);
    long long step = 1;
    for (size_t d = rank; d-- > 0;) {
      if (dims[d] != 1 && dims[d] != ops.out_dims[d]) return {};
      strides[d] = dims[d] == 1 ? 0 : step;
      step *= dims[d];
    }
    layout.insert(layout.end(), strides.begin(), strides.end());
  }
  if (rank == 0) layout.assign(1 + ops.in_dims.size(), 0), layout[0] = 1;  // one element: a 1-d shape
  return layout;
}

// Launch on XLA's stream: eg_vectorized or eg_contiguous when every input has the outputs' size
// or one element (a scalar parameter, read with step 0), else eg_strided, as the backend chooses.
static ffi::Error ElementwiseCuda(CUstream stream, ffi::ScratchAllocator scratch, ffi::RemainingArgs args,
                                  ffi::RemainingRets rets, std::string_view kernel, int64_t n_inputs,
                                  int64_t n_outputs) {
  const EgCudaKernels *k = find_cuda(kernel);
  if (k == nullptr)
    return refuse("kernel " + std::string(kernel) + " is not loaded in this process for this GPU: call the "
                  "function made by fn.to_jax() (which loads it) before running a program that uses it");
  if (!driver().why.empty()) return refuse(driver().why);
  EgOperands ops;
  if (ffi::Error error = read_operands(args, rets, n_inputs, n_outputs, ops); error.failure()) return error;
  if (ops.n == 0) return ffi::Error::Success();
  EgStreamContext context(stream);
  if (context.result()) return driver_error(context.result(), "making XLA's stream's context current");
  long long n = ops.n;
  std::vector<long long> steps(n_inputs);
  bool flat = true, aligned = true;
  for (int64_t j = 0; j < n_inputs; ++j) {
    int64_t count = 1;
    for (int64_t d : ops.in_dims[j]) count *= d;
    flat = flat && (count == ops.n || count == 1);
    steps[j] = count == ops.n && ops.n > 1 ? 1 : 0;
  }
  for (size_t k2 = 0; k2 < ops.pointers.size(); ++k2)
    if (k2 >= static_cast<size_t>(n_inputs) || steps[k2])
      aligned = aligned && reinterpret_cast<std::uintptr_t>(ops.pointers[k2]) % 16 == 0;
  std::vector<void *> params;
  int nd = 0;
  CUdeviceptr layout_on_device = 0;
  CUfunction function;
  unsigned blocks;
  params.push_back(&n);
  if (flat) {
    function = aligned ? k->vectorized : k->contiguous;
    blocks = blocks_for(aligned ? ops.n / (16 / ops.itemsize) : ops.n, *k);
    for (auto &step : steps) params.push_back(&step);
  } else {
    std::vector<long long> layout = strided_layout(ops);
    if (layout.empty()) return refuse("an input's shape does not broadcast to the outputs'");
    const size_t bytes = layout.size() * sizeof(long long);
    std::optional<void *> room = scratch.Allocate(bytes, 16);
    if (!room.has_value()) return refuse("no device memory for the strided kernel's layout");
    layout_on_device = reinterpret_cast<CUdeviceptr>(*room);
    // from pageable memory: the driver has read `layout` when the call returns
    if (CUresult r = driver().copy(layout_on_device, layout.data(), bytes, stream)) return driver_error(r, "copying the layout");
    nd = static_cast<int>(ops.out_dims.empty() ? 1 : ops.out_dims.size());
    function = k->strided;
    blocks = blocks_for(ops.n, *k);
    params.push_back(&nd);
    params.push_back(&layout_on_device);
  }
  for (auto &pointer : ops.pointers) params.push_back(&pointer);
  if (CUresult r = driver().launch(function, blocks, 1, 1, static_cast<unsigned>(k->threads), 1, 1, 0, stream,
                                   params.data(), nullptr))
    return driver_error(r, "launching the kernel");
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(EgElementwiseCuda, ElementwiseCuda,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<CUstream>>()
                                  .Ctx<ffi::ScratchAllocator>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<std::string_view>("kernel")
                                  .Attr<int64_t>("n_inputs")
                                  .Attr<int64_t>("n_outputs"));
