/* elemgrad_gpu: one fused elementwise loop computing every requested output, built as a
 * NumPy ufunc (NumPy broadcasts, walks strides and allocates; we supply the loop).
 * Generated from kernels/elemwise.c; the element body is PyTensor's scalar C code.
 * Outputs:
${outputs_comment}
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <numpy/ufuncobject.h>
#include <math.h>
${headers}
${support_code}

typedef ${ctype} eg_real;
enum { EG_NIN = ${n_in}, EG_NOUT = ${n_out} };

/* One element: v holds the inputs, r receives the outputs. */
static inline void eg_element(const eg_real *v, eg_real *r)
{
${body}
}

/* The ufunc's inner loop over one strided dimension. */
static void eg_loop(char **args, npy_intp const *dimensions, npy_intp const *steps, void *data)
{
    const npy_intp n = dimensions[0];
    (void)data;
    for (npy_intp i = 0; i < n; ++i) {
        eg_real v[EG_NIN], r[EG_NOUT];
        for (int j = 0; j < EG_NIN; ++j) v[j] = *(const eg_real *)(args[j] + i * steps[j]);
        eg_element(v, r);
        for (int m = 0; m < EG_NOUT; ++m) *(eg_real *)(args[EG_NIN + m] + i * steps[EG_NIN + m]) = r[m];
    }
}

#define EG_PASTE(a, b) a##b
#define EG_INIT(name) EG_PASTE(PyInit_, name)
#define EG_QUOTE(name) #name
#define EG_NAME(name) EG_QUOTE(name)

static PyUFuncGenericFunction eg_functions[] = {eg_loop};
static void *eg_data[] = {NULL};
static const char eg_types[EG_NIN + EG_NOUT] = {${type_codes}};
static struct PyModuleDef eg_module = {PyModuleDef_HEAD_INIT, EG_NAME(EG_MODULE), NULL, -1, NULL};

/* EG_MODULE (the module's name) is defined on the compiler's command line. */
PyMODINIT_FUNC EG_INIT(EG_MODULE)(void)
{
    PyObject *module = PyModule_Create(&eg_module), *ufunc;
    if (module == NULL) return NULL;
    import_array();
    import_umath();
    ufunc = PyUFunc_FromFuncAndData(eg_functions, eg_data, (char *)eg_types, 1, EG_NIN, EG_NOUT,
                                    PyUFunc_None, "elemgrad_gpu_kernel", "elemgrad_gpu fused kernel", 0);
    if (ufunc == NULL || PyModule_AddObject(module, "kernel", ufunc) < 0) {
        Py_XDECREF(ufunc);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
