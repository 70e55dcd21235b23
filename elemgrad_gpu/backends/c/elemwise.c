/* elemgrad_gpu: one fused elementwise loop computing every requested output, built as a
 * NumPy ufunc (NumPy broadcasts, walks strides and allocates; we supply the loop).
 * Generated from elemgrad_gpu/backends/c/elemwise.c; the element body is PyTensor's scalar C code.
 * Outputs:
${outputs_comment}
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <numpy/ufuncobject.h>
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#ifdef __linux__
#include <sched.h> /* sched_getaffinity: Python.h has defined _GNU_SOURCE */
#endif
${headers}
${vector_math}

/* tanh through expm1, which glibc's vector math computes faster than its tanh:
 * tanh|x| = -e / (e + 2) with e = expm1(-2|x|) in (-1, 0], no cancellation anywhere;
 * the sign is copied back, so -0, +-inf (+-1) and NaN behave as tanh. |x| is capped
 * at 20 (10 in float), where tanh already rounds to 1, so -2|x| cannot overflow; the
 * quiet comparison keeps a NaN and raises no flag. At most 4 ulp from tanh, enforced
 * against mpmath by tests/backends/test_vector_math.py. */
static inline double eg_tanh(double x)
{
    double a = fabs(x);
    a = isgreater(a, 20.0) ? 20.0 : a;
    const double e = expm1(-2.0 * a);
    return copysign(-e / (e + 2.0), x);
}
static inline float eg_tanhf(float x)
{
    float a = fabsf(x);
    a = isgreater(a, 10.0f) ? 10.0f : a;
    const float e = expm1f(-2.0f * a);
    return copysignf(-e / (e + 2.0f), x);
}
${support_code}

typedef ${ctype} eg_real;
enum { EG_NIN = ${n_in}, EG_NOUT = ${n_out} };
/* Values hoisted out of the loop (elemgrad_gpu/graph/hoist.py): EG_NHOIST of them, computed
 * once per call from the EG_NONCE single-value inputs; none in a kernel for arrays. */
#define EG_NHOIST ${n_hoisted}
#define EG_NONCE ${n_once}

/* One element: inputs v0, v1, ..., then the hoisted values h0, h1, ..., by value;
 * outputs through r0, r1, ... (scalars, not arrays, so that the block loop below
 * vectorizes). Always inlined: a large body (Taylor mode's high orders) passes GCC's
 * inlining limit, and the block loop around a call is not vectorized. */
__attribute__((always_inline)) static inline void eg_element(${element_params})
{
${body}
}

/* The ufunc's inner loop over one strided dimension, in blocks of EG_BLOCK elements:
 * in a full block, contiguous arrays are read and written in place and broadcast
 * scalars come from a buffer filled once; other inputs are gathered into buffers (a
 * short block is padded with its first element) and other outputs scattered. Either way the whole block is computed by one loop the compiler
 * vectorizes (calling the C library's vector math where it has it), so every element
 * takes the same arithmetic whatever the layout: strided, broadcast and contiguous
 * inputs give bitwise identical results.
 * Vector math may raise floating-point flags that the scalar functions would not
 * (glibc's vector tanh(inf) raises "invalid"), which NumPy would report as warnings:
 * a block that raises one is computed again with the scalar functions, whose flags
 * are the ones NumPy sees, as with its own ufuncs. */
enum { EG_BLOCK = 256 };
#define EG_FP_ERRORS (FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)

/* Clearing and testing the flags of each block: on x86_64 straight from the SSE control
 * register (the vector code's flags), far cheaper than feclearexcept's save and reload
 * of the x87 environment too; fenv.h elsewhere. */
#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
_Static_assert(FE_INVALID == 0x01 && FE_DIVBYZERO == 0x04 && FE_OVERFLOW == 0x08, "MXCSR flag bits");
static inline void eg_clear_flags(void) { _mm_setcsr(_mm_getcsr() & ~(unsigned)EG_FP_ERRORS); }
static inline int eg_flags(void) { return (int)(_mm_getcsr() & EG_FP_ERRORS); }
#else
static inline void eg_clear_flags(void) { feclearexcept(EG_FP_ERRORS); }
static inline int eg_flags(void) { return fetestexcept(EG_FP_ERRORS); }
#endif

static void eg_vector_block(const eg_real *const *in, eg_real *const *out, const eg_real *hoisted)
{
#pragma omp simd
    for (int i = 0; i < EG_BLOCK; ++i) { /* eg:block-loop */
        eg_real ${result_names};
        eg_element(${element_arguments});
${stores}
    }
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
static void eg_scalar_block(const eg_real *const *in, eg_real *const *out, npy_intp len, const eg_real *hoisted)
{
#if defined(__clang__)
#pragma clang loop vectorize(disable)
#endif
    for (npy_intp i = 0; i < len; ++i) {
        eg_real ${result_names};
        eg_element(${element_arguments});
${stores}
    }
}

/* The hoisted values of a call, as the vector blocks and as the scalar blocks compute
 * them, and the flags each way of computing them raised. */
struct eg_hoisted {
    eg_real vector[EG_NHOIST > 0 ? EG_NHOIST : 1], scalar[EG_NHOIST > 0 ? EG_NHOIST : 1];
    int vector_flags, scalar_flags;
};

#if EG_NHOIST > 0
static const int eg_once_inputs[EG_NONCE] = {${once_inputs}};

static inline void eg_once_element(${once_params})
{
${once_body}
}

/* The hoisted values computed in a vectorized block of EG_BLOCK equal lanes, so with the
 * vector functions the loop's blocks call (each lane gives what every element of a
 * broadcast array would), and once by the scalar functions, for the blocks computed
 * again by those. */
static void eg_once_vector(const eg_real (*lanes)[EG_BLOCK], eg_real (*values)[EG_BLOCK])
{
#pragma omp simd
    for (int i = 0; i < EG_BLOCK; ++i) { /* eg:once-loop */
        eg_real ${once_results};
        eg_once_element(${once_arguments});
${once_stores}
    }
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
static void eg_once_scalar(const eg_real *inputs, eg_real *values)
{
    const eg_real (*lanes)[1] = (const eg_real (*)[1])inputs;
    const int i = 0;
    eg_real ${once_results};
    eg_once_element(${once_arguments});
${once_scalar_stores}
}

/* NumPy calls the loop once per run of an N-d iteration: the values of the last inputs
 * seen are kept, per thread, and compared bit for bit. */
static _Thread_local struct { int valid; eg_real inputs[EG_NONCE]; struct eg_hoisted values; } eg_last;

static void eg_hoist(char *const *args, struct eg_hoisted *hoisted)
{
    eg_real inputs[EG_NONCE], lanes[EG_NONCE][EG_BLOCK], values[EG_NHOIST][EG_BLOCK];
    for (int s = 0; s < EG_NONCE; ++s) inputs[s] = *(const eg_real *)args[eg_once_inputs[s]];
    if (eg_last.valid && memcmp(inputs, eg_last.inputs, sizeof inputs) == 0) {
        *hoisted = eg_last.values;
        return;
    }
    for (int s = 0; s < EG_NONCE; ++s)
        for (int i = 0; i < EG_BLOCK; ++i) lanes[s][i] = inputs[s];
    eg_clear_flags();
    eg_once_vector((const eg_real (*)[EG_BLOCK])lanes, values);
    hoisted->vector_flags = eg_flags();
    for (int t = 0; t < EG_NHOIST; ++t) hoisted->vector[t] = values[t][0];
    feclearexcept(EG_FP_ERRORS);
    eg_once_scalar(inputs, hoisted->scalar);
    hoisted->scalar_flags = fetestexcept(EG_FP_ERRORS);
    memcpy(eg_last.inputs, inputs, sizeof inputs);
    eg_last.values = *hoisted;
    eg_last.valid = 1;
}
#else
static void eg_hoist(char *const *args, struct eg_hoisted *hoisted)
{
    (void)args;
    hoisted->vector_flags = hoisted->scalar_flags = 0;
}
#endif

/* The bytes operand k spans over n elements: [*low, *high). */
static void eg_span(char *const *args, npy_intp n, npy_intp const *steps, int k, char **low, char **high)
{
    const npy_intp reach = (n - 1) * steps[k];
    *low = args[k] + (reach < 0 ? reach : 0);
    *high = args[k] + (reach > 0 ? reach : 0) + (npy_intp)sizeof(eg_real);
}

/* Which inputs share bytes with an output over these n elements (kept[j] = 1). NumPy
 * hands the loop an input as its output without copying it when both are the same
 * array (fn(x, out=(x, d))); each block of such an input is then read into its buffer
 * before the block is computed, so that a block computed again by the scalar functions
 * reads the inputs, not what the vector code wrote over them. */
static void eg_kept_inputs(char *const *args, npy_intp n, npy_intp const *steps, int *kept)
{
    for (int j = 0; j < EG_NIN; ++j) {
        char *low, *high, *out_low, *out_high;
        eg_span(args, n, steps, j, &low, &high);
        kept[j] = 0;
        for (int m = EG_NIN; m < EG_NIN + EG_NOUT && n > 0; ++m) {
            eg_span(args, n, steps, m, &out_low, &out_high);
            kept[j] |= low < out_high && out_low < high;
        }
    }
}

/* Elements [0, n) of one thread's share; returns the floating-point flags to raise. A
 * block is computed again by the scalar functions when its vector code, or the vector
 * computation of the hoisted values it reads, raised a flag: as when the whole body ran
 * in the block. */
static int eg_blocks(char *const *args, const npy_intp n, npy_intp const *steps, const struct eg_hoisted *hoisted)
{
    eg_real in_buffer[EG_NIN][EG_BLOCK], out_buffer[EG_NOUT][EG_BLOCK];
    const eg_real *in[EG_NIN];
    eg_real *out[EG_NOUT];
    int raised = 0, kept[EG_NIN];
    eg_kept_inputs(args, n, steps, kept);
    for (int j = 0; j < EG_NIN; ++j)
        for (npy_intp i = 0; i < EG_BLOCK && steps[j] == 0 && n > 0; ++i) in_buffer[j][i] = *(const eg_real *)args[j];
    for (npy_intp start = 0; start < n; start += EG_BLOCK) {
        const npy_intp len = n - start < EG_BLOCK ? n - start : EG_BLOCK;
        for (int j = 0; j < EG_NIN; ++j) {
            const char *p = args[j] + start * steps[j];
            const int direct = len == EG_BLOCK && steps[j] == (npy_intp)sizeof(eg_real);
            in[j] = direct && !kept[j] ? (const eg_real *)p : in_buffer[j];
            if (direct && kept[j]) memcpy(in_buffer[j], p, sizeof in_buffer[j]);
            if (direct || steps[j] == 0) continue;
            for (npy_intp i = 0; i < len; ++i) in_buffer[j][i] = *(const eg_real *)(p + i * steps[j]);
            for (npy_intp i = len; i < EG_BLOCK; ++i) in_buffer[j][i] = in_buffer[j][0];
        }
        for (int m = 0; m < EG_NOUT; ++m) {
            const int direct = len == EG_BLOCK && steps[EG_NIN + m] == (npy_intp)sizeof(eg_real);
            out[m] = direct ? (eg_real *)(args[EG_NIN + m] + start * steps[EG_NIN + m]) : out_buffer[m];
        }
        eg_clear_flags();
        eg_vector_block(in, out, hoisted->vector);
        if (eg_flags() || hoisted->vector_flags) {
            feclearexcept(EG_FP_ERRORS);
            eg_scalar_block(in, out, len, hoisted->scalar);
            raised |= fetestexcept(EG_FP_ERRORS) | hoisted->scalar_flags;
        }
        for (int m = 0; m < EG_NOUT; ++m) {
            char *p = args[EG_NIN + m] + start * steps[EG_NIN + m];
            if (out[m] != out_buffer[m]) continue;
            for (npy_intp i = 0; i < len; ++i) *(eg_real *)(p + i * steps[EG_NIN + m]) = out_buffer[m][i];
        }
    }
    return raised;
}


/* Large arrays are split across the CPUs this process may run on, at block boundaries
 * (so results do not depend on the split), with plain threads started per call: no
 * thread pool survives a fork, so forked children are safe. */
enum { EG_PARALLEL_MIN = 1 << 17, EG_MAX_THREADS = 64 };
static int eg_threads = 1;

struct eg_share {
    char *args[EG_NIN + EG_NOUT];
    npy_intp n;
    npy_intp const *steps;
    const struct eg_hoisted *hoisted;
    int raised;
};

static void *eg_run_share(void *share)
{
    struct eg_share *s = (struct eg_share *)share;
    s->raised = eg_blocks(s->args, s->n, s->steps, s->hoisted);
    return NULL;
}

static void eg_loop(char **args, npy_intp const *dimensions, npy_intp const *steps, void *data)
{
    const npy_intp n = dimensions[0];
    const int count = n >= EG_PARALLEL_MIN ? eg_threads : 1;
    const npy_intp blocks = (n + EG_BLOCK - 1) / EG_BLOCK;
    struct eg_share shares[EG_MAX_THREADS];
    pthread_t workers[EG_MAX_THREADS];
    int started[EG_MAX_THREADS] = {0}, raised = 0;
    fexcept_t before;
    struct eg_hoisted hoisted;
    (void)data;
    fegetexceptflag(&before, FE_ALL_EXCEPT);
    if (n > 0) eg_hoist(args, &hoisted);
    for (int t = 0; t < count; ++t) {
        const npy_intp first = blocks * t / count * EG_BLOCK, last = blocks * (t + 1) / count * EG_BLOCK;
        struct eg_share *s = &shares[t];
        for (int k = 0; k < EG_NIN + EG_NOUT; ++k) s->args[k] = args[k] + first * steps[k];
        s->n = (last < n ? last : n) - first;
        s->steps = steps;
        s->hoisted = &hoisted;
        if (t > 0) started[t] = pthread_create(&workers[t], NULL, eg_run_share, s) == 0;
    }
    eg_run_share(&shares[0]);
    for (int t = 1; t < count; ++t) {
        if (started[t]) pthread_join(workers[t], NULL);
        else eg_run_share(&shares[t]); /* no thread to be had: do its share here */
    }
    for (int t = 0; t < count; ++t) raised |= shares[t].raised;
    fesetexceptflag(&before, FE_ALL_EXCEPT);
    if (raised) feraiseexcept(raised);
}

/* The loop called directly, as the ufunc calls it for operands laid out alike, without
 * the ufunc's dispatch: call(inputs..., outputs...) into given outputs, new(shape,
 * inputs...) into new C-contiguous outputs of ``shape``, the call's broadcast shape.
 * Each operand must be an aligned ndarray of eg_real in the machine's byte order,
 * C-contiguous, inputs of the outputs' size n or of one element (broadcast), outputs
 * writeable, and no output may share memory with another operand; then the ufunc would
 * coalesce them into the one loop call made here, with the same steps, so the results
 * are the same bit for bit.
 * Both return the floating-point errors raised, as NumPy's UFUNC_FPE_* bits (0: none),
 * for the caller to report as NumPy would (new: followed by the outputs); None where
 * the operands do not qualify (the caller then calls the ufunc, which copies what
 * overlaps). Like the ufunc, they let other threads run while looping over 500
 * elements or more. */
static const char eg_types[EG_NIN + EG_NOUT] = {${type_codes}};

/* Operand k's pointer, step and bytes, for a call of n elements; 0 if it does not qualify. */
static int eg_operand(PyObject *object, int k, npy_intp n, char **args, npy_intp *steps, npy_intp *bytes)
{
    if (!PyArray_CheckExact(object)) return 0;
    PyArrayObject *array = (PyArrayObject *)object;
    const npy_intp size = PyArray_SIZE(array);
    if (PyArray_TYPE(array) != eg_types[0] || !PyArray_ISNOTSWAPPED(array) || !PyArray_ISALIGNED(array)
        || !PyArray_IS_C_CONTIGUOUS(array)
        || (k >= EG_NIN && !PyArray_ISWRITEABLE(array)) || (size != n && (k >= EG_NIN || size != 1)))
        return 0;
    args[k] = PyArray_BYTES(array);
    steps[k] = size == n && n > 1 ? (npy_intp)sizeof(eg_real) : 0;
    bytes[k] = size * (npy_intp)sizeof(eg_real);
    return 1;
}

/* The loop over n elements for callers outside Python (the Numba implementation of the
 * PyTensor Op, adapters/pytensor_op.py), whose address is the module's ``entry``: args holds the
 * EG_NIN input then EG_NOUT output pointers, steps their steps in bytes (0: one value for
 * every element). It takes no Python object and keeps the GIL as it is. Returns the
 * UFUNC_FPE_* bits of the floating-point errors raised. */
static int eg_entry(char **args, npy_intp n, const npy_intp *steps)
{
    feclearexcept(EG_FP_ERRORS);
    eg_loop(args, &n, steps, NULL);
    const int raised = fetestexcept(EG_FP_ERRORS);
    feclearexcept(EG_FP_ERRORS);
    return (raised & FE_INVALID ? UFUNC_FPE_INVALID : 0) | (raised & FE_DIVBYZERO ? UFUNC_FPE_DIVIDEBYZERO : 0)
           | (raised & FE_OVERFLOW ? UFUNC_FPE_OVERFLOW : 0);
}

/* The loop over n elements; the errors it raised as UFUNC_FPE_* bits. Other threads run
 * meanwhile from 500 elements on. */
static int eg_run(char **args, npy_intp n, const npy_intp *steps)
{
    int raised;
    if (n >= 500) {
        Py_BEGIN_ALLOW_THREADS
        raised = eg_entry(args, n, steps);
        Py_END_ALLOW_THREADS
    } else {
        raised = eg_entry(args, n, steps);
    }
    return raised;
}

static PyObject *eg_call(PyObject *self, PyObject *const *operands, Py_ssize_t count)
{
    char *args[EG_NIN + EG_NOUT];
    npy_intp steps[EG_NIN + EG_NOUT], bytes[EG_NIN + EG_NOUT];
    (void)self;
    if (count != EG_NIN + EG_NOUT) {
        PyErr_Format(PyExc_TypeError, "call takes %d arrays, not %zd", EG_NIN + EG_NOUT, count);
        return NULL;
    }
    if (!PyArray_CheckExact(operands[EG_NIN])) Py_RETURN_NONE;
    const npy_intp n = PyArray_SIZE((PyArrayObject *)operands[EG_NIN]);
    for (int k = 0; k < EG_NIN + EG_NOUT; ++k)
        if (!eg_operand(operands[k], k, n, args, steps, bytes)) Py_RETURN_NONE;
    for (int m = EG_NIN; m < EG_NIN + EG_NOUT; ++m)
        for (int k = 0; k < EG_NIN + EG_NOUT; ++k)
            if (k != m && args[k] < args[m] + bytes[m] && args[m] < args[k] + bytes[k]) Py_RETURN_NONE;
    return PyLong_FromLong(eg_run(args, n, steps));
}

static PyObject *eg_new(PyObject *self, PyObject *const *operands, Py_ssize_t count)
{
    char *args[EG_NIN + EG_NOUT];
    npy_intp steps[EG_NIN + EG_NOUT], bytes[EG_NIN + EG_NOUT], dims[NPY_MAXDIMS], n = 1;
    PyObject *result;
    (void)self;
    if (count != 1 + EG_NIN || !PyTuple_Check(operands[0]) || PyTuple_GET_SIZE(operands[0]) > NPY_MAXDIMS) {
        PyErr_Format(PyExc_TypeError, "new takes a shape and %d arrays", EG_NIN);
        return NULL;
    }
    const int nd = (int)PyTuple_GET_SIZE(operands[0]);
    for (int d = 0; d < nd; ++d) {
        dims[d] = PyLong_AsSsize_t(PyTuple_GET_ITEM(operands[0], d));
        if (dims[d] < 0) return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative dimension");
        n *= dims[d];
    }
    for (int k = 0; k < EG_NIN; ++k)
        if (!eg_operand(operands[1 + k], k, n, args, steps, bytes)) Py_RETURN_NONE;
    result = PyTuple_New(1 + EG_NOUT);
    if (result == NULL) return NULL;
    for (int m = 0; m < EG_NOUT; ++m) {
        PyObject *output = PyArray_SimpleNew(nd, dims, eg_types[0]);
        if (output == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, 1 + m, output);
        args[EG_NIN + m] = PyArray_BYTES((PyArrayObject *)output);
        steps[EG_NIN + m] = n > 1 ? (npy_intp)sizeof(eg_real) : 0;
    }
    PyObject *raised = PyLong_FromLong(eg_run(args, n, steps));
    if (raised == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, raised);
    return result;
}

static PyMethodDef eg_methods[] = {
    {"call", (PyCFunction)(void (*)(void))eg_call, METH_FASTCALL, "the loop into given outputs, or None"},
    {"new", (PyCFunction)(void (*)(void))eg_new, METH_FASTCALL, "the loop into new outputs, or None"},
    {NULL, NULL, 0, NULL},
};

#define EG_PASTE(a, b) a##b
#define EG_INIT(name) EG_PASTE(PyInit_, name)
#define EG_QUOTE(name) #name
#define EG_NAME(name) EG_QUOTE(name)

static PyUFuncGenericFunction eg_functions[] = {eg_loop};
static void *eg_data[] = {NULL};
static struct PyModuleDef eg_module = {PyModuleDef_HEAD_INIT, EG_NAME(EG_MODULE), NULL, -1, eg_methods};

/* EG_MODULE (the module's name) is defined on the compiler's command line. */
PyMODINIT_FUNC EG_INIT(EG_MODULE)(void)
{
    PyObject *module = PyModule_Create(&eg_module), *ufunc;
    if (module == NULL) return NULL;
    import_array();
    import_umath();
#ifdef __linux__
    {
        cpu_set_t cpus;
        const int available = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
        eg_threads = available < 1 ? 1 : available > EG_MAX_THREADS ? EG_MAX_THREADS : available;
    }
#endif
    ufunc = PyUFunc_FromFuncAndData(eg_functions, eg_data, (char *)eg_types, 1, EG_NIN, EG_NOUT,
                                    PyUFunc_None, "elemgrad_gpu_kernel", "elemgrad_gpu fused kernel", 0);
    if (ufunc == NULL || PyModule_AddObject(module, "kernel", ufunc) < 0) {
        Py_XDECREF(ufunc);
        Py_DECREF(module);
        return NULL;
    }
    PyObject *entry = PyLong_FromVoidPtr((void *)eg_entry);
    if (entry == NULL || PyModule_AddObject(module, "entry", entry) < 0) {
        Py_XDECREF(entry);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
