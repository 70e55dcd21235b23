/* elemgrad_gpu: what PyTensor's scalar C code expects from numpy and math.h, for NVRTC. */
#ifndef ELEMGRAD_SCALAR_TYPES_H
#define ELEMGRAD_SCALAR_TYPES_H
typedef signed char npy_int8;
typedef short npy_int16;
typedef int npy_int32;
typedef long long npy_int64;
typedef unsigned char npy_uint8;
typedef unsigned short npy_uint16;
typedef unsigned int npy_uint32;
typedef unsigned long long npy_uint64;
typedef unsigned char npy_bool;
typedef float npy_float32;
typedef double npy_float64;
#define WITHIN_KERNEL __device__
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
#ifndef isgreater /* math.h's quiet comparisons; GPUs raise no floating-point flags */
#define isgreater(a, b) ((a) > (b))
#define isgreaterequal(a, b) ((a) >= (b))
#endif
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#endif
