/* DEVICE: how every function of the accurate-function headers (special.h, normal.h, gamma.h,
 * bessel.h, hypergeometric.h, incomplete.h) is declared: WITHIN_KERNEL inside a CUDA kernel
 * (the CUDA backend defines it), nothing in host C. headers.support_code puts this first. */
#ifndef EG_DEVICE_H
#define EG_DEVICE_H
#ifndef DEVICE
#ifdef WITHIN_KERNEL
#define DEVICE WITHIN_KERNEL
#else
#define DEVICE
#endif
#endif
#endif
