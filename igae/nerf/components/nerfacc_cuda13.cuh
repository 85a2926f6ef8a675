// Compatibility of nerfacc 0.5.2's CUDA sources with CUDA 13 and C++20, pre-included into every nvcc call of
// nerfacc's JIT build by igae.nerf.components.nerfacc_cuda13 (with nerfacc's csrc/include folder on the include path).
// nerfacc itself is left as it is; each part below is a no-op where its problem does not arise.
#pragma once

#if defined(__CUDACC__) && defined(__cplusplus)
#include <cuda_runtime.h>

// 1. CCCL 3 (CUDA >= 13) removed cub::Equality, which scan.cu passes to cub::DeviceScan::*ByKey:
//      scan.cu(28): error: namespace "cub" has no member "Equality"
//    cuda::std::equal_to<> replaces it. Older CUB (CUDA <= 12) still has it.
#include <cub/version.cuh>
#if CUB_VERSION >= 300000
#include <cub/config.cuh>
#include <cuda/std/functional>
CUB_NAMESPACE_BEGIN
using Equality = ::cuda::std::equal_to<>;
CUB_NAMESPACE_END
#endif

// 2. C++20 (torch >= 2.12 builds extensions with -std=c++20; torch 2.14's ATen requires it): libstdc++'s <math.h>
//    puts std::lerp into the global namespace, where nerfacc's utils_math.cuh (CUDA samples' helper_math.h) defines
//    its own lerp(float, float, float):
//      utils_math.cuh:1145:44: error: 'float lerp(float, float, float)' conflicts with a previous declaration
//    nerfacc never calls those lerp overloads: include the header once here with them renamed; its include guard
//    makes nerfacc's own #include of it a no-op.
#if __cplusplus >= 202002L && __has_include("utils_math.cuh")
#define lerp igae_nerfacc_helper_math_lerp
#include "utils_math.cuh"
#undef lerp
#endif
#endif
