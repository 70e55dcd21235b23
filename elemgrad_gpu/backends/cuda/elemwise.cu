/* elemgrad_gpu: one fused elementwise CUDA kernel computing every requested output.
 * Generated from elemgrad_gpu/backends/cuda/elemwise.cu; the element body is PyTensor's scalar C code,
 * the same as the CPU backend's. Compiled with NVRTC.
 * Outputs:
${outputs_comment}
 */
${scalar_types}
${support_code}

typedef ${ctype} eg_real;
#define EG_NIN ${n_in}
#define EG_NOUT ${n_out}
/* Values hoisted out of the element body (elemgrad_gpu/graph/hoist.py): EG_NHOIST of them,
 * computed once per call by eg_once from the single-value inputs into a buffer of EG_NHOIST
 * values that the other kernels read (their last parameter, hoisted); none in a kernel for
 * arrays. The element body reads them after the inputs, as v[EG_NIN + t]. */
#define EG_NHOIST ${n_hoisted}
#define EG_NV (EG_NIN + EG_NHOIST)

/* One element: v holds the inputs (then the hoisted values), r receives the outputs. */
static __device__ __forceinline__ void eg_element(const eg_real *v, eg_real *r)
{
${body}
}
${once_kernel}
/* Contiguous inputs (step 1) or scalars (step 0); outputs contiguous. Grid-stride
 * loop with 64-bit indices, so any number of elements. */
extern "C" __global__ void eg_contiguous(const long long n, ${contiguous_params})
{
    const long long stride = (long long)blockDim.x * gridDim.x;
${hoisted_reads}
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        eg_real v[EG_NV], r[EG_NOUT];
${contiguous_loads}
${hoisted_copies}
        eg_element(v, r);
${stores}
    }
}

/* As eg_contiguous, with 16-byte loads and stores: every array of n elements is 16-byte
 * aligned, and each step moves EG_VEC elements (4 floats or 2 doubles); scalars (step 0)
 * are read once. The last n % EG_VEC elements are done one each by the first threads. */
#define EG_VEC (16 / (int)sizeof(eg_real))
struct __align__(16) eg_vec { eg_real e[EG_VEC]; };

extern "C" __global__ void eg_vectorized(const long long n, ${contiguous_params})
{
    const long long stride = (long long)blockDim.x * gridDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long vectors = n / EG_VEC;
    eg_vec x[EG_NIN], y[EG_NOUT];
${vector_scalars}
${hoisted_reads}
    for (long long k = first; k < vectors; k += stride) {
${vector_loads}
#pragma unroll
        for (int l = 0; l < EG_VEC; ++l) {
            eg_real v[EG_NV], r[EG_NOUT];
            for (int j = 0; j < EG_NIN; ++j) v[j] = x[j].e[l];
${hoisted_copies}
            eg_element(v, r);
            for (int m = 0; m < EG_NOUT; ++m) y[m].e[l] = r[m];
        }
${vector_stores}
    }
    const long long i = vectors * EG_VEC + first;
    if (i < n) {
        eg_real v[EG_NV], r[EG_NOUT];
${contiguous_loads}
${hoisted_copies}
        eg_element(v, r);
${stores}
    }
}

/* Strided or broadcast inputs over an N-d shape, outputs contiguous. layout holds the
 * shape (nd values, dimensions merged beforehand), then each input's strides in
 * elements (nd values per input; 0 where broadcast, negative for reversed views). */
extern "C" __global__ void eg_strided(const long long n, const int nd, const long long *__restrict__ layout,
                                      ${strided_params})
{
    const long long stride = (long long)blockDim.x * gridDim.x;
${hoisted_reads}
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long long offset[EG_NIN] = {0}, rest = i;
        for (int d = nd - 1; d >= 0; --d) {
            const long long coordinate = rest % layout[d];
            rest /= layout[d];
            for (int j = 0; j < EG_NIN; ++j) offset[j] += coordinate * layout[nd * (j + 1) + d];
        }
        eg_real v[EG_NV], r[EG_NOUT];
${strided_loads}
${hoisted_copies}
        eg_element(v, r);
${stores}
    }
}
