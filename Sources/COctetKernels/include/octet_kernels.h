// Micro-kernels Swift cannot vectorize well without target flags (it emits SSE2 only on
// x86-64). Each entry point picks an AVX2/FMA implementation at run time when the CPU has it,
// and a portable one otherwise (other x86-64 CPUs, arm64).
#ifndef OCTET_KERNELS_H
#define OCTET_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Rows of a register tile (MR) and columns of a packed B panel (NR).
enum { OCTET_GEMM_MR = 6, OCTET_GEMM_NR = 16 };

/// C[rows × width] (+)= A[rows × k] · P[k × 16], where P is a packed panel (16 floats per k,
/// zero-padded past `width`), A has row stride `lda` and C row stride `ldc`; rows ≤ 6.
void octet_sgemm_tile(int rows, int k, const float *a, long lda, const float *panel,
                      float *c, long ldc, int width, int accumulate);

/// Packs columns [column, column + width) of B (row stride ldb, k rows) into a 16-wide panel.
void octet_pack_panel(int k, const float *b, long ldb, int width, float *panel);

/// 1 when the AVX2/FMA kernels are in use.
int octet_kernels_use_avx2(void);

#ifdef __cplusplus
}
#endif

#endif
