#include "octet_kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OCTET_X86 1
#endif

// Portable tile: plain C that compilers vectorize for the baseline instruction set.
static void tile_portable(int rows, int k, const float *a, long lda, const float *panel,
                          float *c, long ldc, int width, int accumulate) {
    float acc[OCTET_GEMM_MR][OCTET_GEMM_NR];
    memset(acc, 0, sizeof(acc));
    for (int p = 0; p < k; p++) {
        const float *b = panel + (long)p * OCTET_GEMM_NR;
        for (int r = 0; r < rows; r++) {
            float x = a[r * lda + p];
            for (int j = 0; j < OCTET_GEMM_NR; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        for (int j = 0; j < width; j++) out[j] = accumulate ? out[j] + acc[r][j] : acc[r][j];
    }
}

#ifdef OCTET_X86
__attribute__((target("avx2,fma")))
static void tile_avx2(int rows, int k, const float *a, long lda, const float *panel,
                      float *c, long ldc, int width, int accumulate) {
    __m256 acc[OCTET_GEMM_MR][2];
    for (int r = 0; r < OCTET_GEMM_MR; r++) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
    }
    if (rows == OCTET_GEMM_MR) {
        for (int p = 0; p < k; p++) {
            __m256 b0 = _mm256_loadu_ps(panel + (long)p * 16);
            __m256 b1 = _mm256_loadu_ps(panel + (long)p * 16 + 8);
            for (int r = 0; r < OCTET_GEMM_MR; r++) {
                __m256 x = _mm256_broadcast_ss(a + r * lda + p);
                acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
            }
        }
    } else {
        for (int p = 0; p < k; p++) {
            __m256 b0 = _mm256_loadu_ps(panel + (long)p * 16);
            __m256 b1 = _mm256_loadu_ps(panel + (long)p * 16 + 8);
            for (int r = 0; r < rows; r++) {
                __m256 x = _mm256_broadcast_ss(a + r * lda + p);
                acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        if (width == 16) {
            __m256 low = acc[r][0], high = acc[r][1];
            if (accumulate) {
                low = _mm256_add_ps(low, _mm256_loadu_ps(out));
                high = _mm256_add_ps(high, _mm256_loadu_ps(out + 8));
            }
            _mm256_storeu_ps(out, low);
            _mm256_storeu_ps(out + 8, high);
        } else {
            float buffer[16];
            _mm256_storeu_ps(buffer, acc[r][0]);
            _mm256_storeu_ps(buffer + 8, acc[r][1]);
            for (int j = 0; j < width; j++) out[j] = accumulate ? out[j] + buffer[j] : buffer[j];
        }
    }
}
#endif

static int use_avx2 = -1;

int octet_kernels_use_avx2(void) {
    if (use_avx2 < 0) {
#ifdef OCTET_X86
        __builtin_cpu_init();
        use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        use_avx2 = 0;
#endif
    }
    return use_avx2;
}

void octet_sgemm_tile(int rows, int k, const float *a, long lda, const float *panel,
                      float *c, long ldc, int width, int accumulate) {
#ifdef OCTET_X86
    if (octet_kernels_use_avx2()) {
        tile_avx2(rows, k, a, lda, panel, c, ldc, width, accumulate);
        return;
    }
#endif
    tile_portable(rows, k, a, lda, panel, c, ldc, width, accumulate);
}

void octet_pack_panel(int k, const float *b, long ldb, int width, float *panel) {
    for (int p = 0; p < k; p++) {
        const float *source = b + (long)p * ldb;
        float *target = panel + (long)p * OCTET_GEMM_NR;
        if (width == OCTET_GEMM_NR) {
            memcpy(target, source, sizeof(float) * OCTET_GEMM_NR);
        } else {
            for (int j = 0; j < width; j++) target[j] = source[j];
            for (int j = width; j < OCTET_GEMM_NR; j++) target[j] = 0;
        }
    }
}
