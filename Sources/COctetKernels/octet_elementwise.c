// Element-wise float32 kernels: activations and the four arithmetic operators over rows whose
// inputs advance by 1 (a tensor) or 0 (a broadcast scalar). One branch-free body per kernel,
// compiled three times (baseline, AVX2 + FMA, AVX-512) so the compiler vectorizes it for each
// instruction set; the entry points pick one at run time.
#include "octet_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OCTET_X86 1
#endif

// e^x for x clamped to [-87.3, 88.7] (Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6
// polynomial, 2^n built in the exponent bits); relative error about 2 ulp.
static inline float exp_approx(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return p * scale.f;
}

// erf(x): x · P(x²) / Q(x²) on x clamped to [-4, 4] (erf(±4) rounds to ±1 in float32); the
// rational fit Eigen uses for float, absolute error below 4e-7 (a few ulps near ±1).
static inline float erf_approx(float x) {
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return x * p / q;
}

// tanh(x): x · P(x²) / Q(x²) on x clamped to ±7.905 (where tanh rounds to ±1 in float32); the
// rational fit Eigen uses for float, within 6 ulp. NaN stays NaN.
static inline float tanh_approx(float x) {
    float clamped = x < -7.90531110763549805f ? -7.90531110763549805f : (x > 7.90531110763549805f ? 7.90531110763549805f : x);
    float x2 = clamped * clamped;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float y = clamped * p / q;
    return x != x ? x : y;
}

// Element i of y depends on element i of x alone, so y may be x: vectorize without the
// run-time overlap check (which sends an in-place call down the scalar loop).
#define ELEMENTWISE _Pragma("clang loop vectorize(assume_safety)")

#define UNARY_BODY                                                                                \
    switch (op) {                                                                                 \
    case OCTET_UNARY_RELU:                                                                        \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];                            \
        break;                                                                                    \
    case OCTET_UNARY_SIGMOID:                                                                     \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_approx(-x[i]));                    \
        break;                                                                                    \
    case OCTET_UNARY_HARD_SIGMOID:                                                                \
        ELEMENTWISE for (long i = 0; i < n; i++) {                                                            \
            float v = alpha * x[i] + beta;                                                        \
            v = v < 0.0f ? 0.0f : v;                                                              \
            y[i] = v > 1.0f ? 1.0f : v;                                                           \
        }                                                                                         \
        break;                                                                                    \
    case OCTET_UNARY_HARD_SWISH:                                                                  \
        ELEMENTWISE for (long i = 0; i < n; i++) {                                                            \
            float v = x[i] / 6.0f + 0.5f;                                                         \
            v = v < 0.0f ? 0.0f : v;                                                              \
            y[i] = x[i] * (v > 1.0f ? 1.0f : v);                                                  \
        }                                                                                         \
        break;                                                                                    \
    case OCTET_UNARY_ERF:                                                                         \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = erf_approx(x[i]);                                     \
        break;                                                                                    \
    case OCTET_UNARY_EXP:                                                                         \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = exp_approx(x[i]);                                     \
        break;                                                                                    \
    case OCTET_UNARY_TANH:                                                                        \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = tanh_approx(x[i]);                                    \
        break;                                                                                    \
    case OCTET_UNARY_SILU:                                                                        \
        ELEMENTWISE for (long i = 0; i < n; i++) y[i] = x[i] * (1.0f / (1.0f + exp_approx(-x[i])));           \
        break;                                                                                    \
    case OCTET_UNARY_X_HARD_SIGMOID:                                                              \
        ELEMENTWISE for (long i = 0; i < n; i++) {                                                            \
            float v = alpha * x[i] + beta;                                                        \
            v = v < 0.0f ? 0.0f : v;                                                              \
            y[i] = x[i] * (v > 1.0f ? 1.0f : v);                                                  \
        }                                                                                         \
        break;                                                                                    \
    }

#define BINARY_LOOP(EXPR)                                                                         \
    if (step_a && step_b) {                                                                       \
        for (long i = 0; i < n; i++) { float u = a[i], v = b[i]; y[i] = EXPR; }                   \
    } else if (step_a) {                                                                          \
        float v = b[0];                                                                           \
        for (long i = 0; i < n; i++) { float u = a[i]; y[i] = EXPR; }                             \
    } else if (step_b) {                                                                          \
        float u = a[0];                                                                           \
        for (long i = 0; i < n; i++) { float v = b[i]; y[i] = EXPR; }                             \
    } else {                                                                                      \
        float u = a[0], v = b[0];                                                                 \
        for (long i = 0; i < n; i++) y[i] = EXPR;                                                 \
    }

#define BINARY_BODY                                                                               \
    switch (op) {                                                                                 \
    case OCTET_BINARY_ADD: BINARY_LOOP(u + v) break;                                              \
    case OCTET_BINARY_SUB: BINARY_LOOP(u - v) break;                                              \
    case OCTET_BINARY_MUL: BINARY_LOOP(u * v) break;                                              \
    case OCTET_BINARY_DIV: BINARY_LOOP(u / v) break;                                              \
    case OCTET_BINARY_ADD_RELU: BINARY_LOOP((u + v) < 0.0f ? 0.0f : (u + v)) break;               \
    }

// Softmax of rows of n: y = e^(x - max) / Σ, with e^-inf exactly 0 (masked positions); the
// sum runs in 16 float lanes, then the lanes add in double.
#define SOFTMAX_BODY                                                                              \
    for (long row = 0; row < rows; row++) {                                                       \
        const float *in = x + row * n;                                                            \
        float *out = y + row * n;                                                                 \
        float peak = -INFINITY;                                                                   \
        for (long i = 0; i < n; i++) peak = in[i] > peak ? in[i] : peak;                          \
        float lanes[16] = {0};                                                                    \
        long i = 0;                                                                               \
        for (; i + 16 <= n; i += 16) {                                                            \
            for (int j = 0; j < 16; j++) {                                                        \
                float v = in[i + j];                                                              \
                float e = v == -INFINITY ? 0.0f : exp_approx(v - peak);                           \
                out[i + j] = e;                                                                   \
                lanes[j] += e;                                                                    \
            }                                                                                     \
        }                                                                                         \
        for (; i < n; i++) {                                                                      \
            float v = in[i];                                                                      \
            float e = v == -INFINITY ? 0.0f : exp_approx(v - peak);                               \
            out[i] = e;                                                                           \
            lanes[i % 16] += e;                                                                   \
        }                                                                                         \
        double total = 0;                                                                         \
        for (int j = 0; j < 16; j++) total += lanes[j];                                           \
        float scale = (float)(1.0 / total);                                                       \
        for (long k = 0; k < n; k++) out[k] *= scale;                                             \
    }

// Row sums in 32 float lanes (two vectors of independent additions), the lanes added in double.
#define SUM_ROWS_BODY                                                                             \
    for (long row = 0; row < rows; row++) {                                                       \
        const float *in = x + row * n;                                                            \
        float lanes[32] = {0};                                                                    \
        long i = 0;                                                                               \
        for (; i + 32 <= n; i += 32) {                                                            \
            for (int j = 0; j < 32; j++) lanes[j] += in[i + j];                                   \
        }                                                                                         \
        for (; i < n; i++) lanes[i % 32] += in[i];                                                \
        double total = 0;                                                                         \
        for (int j = 0; j < 32; j++) total += lanes[j];                                           \
        y[row] = (float)(total * scale);                                                          \
    }

static void softmax_portable(const float *x, float *y, long rows, long n) { SOFTMAX_BODY }
static void sum_rows_portable(const float *x, float *y, long rows, long n, double scale) { SUM_ROWS_BODY }

static void unary_portable(int op, const float *x, float *y, long n, float alpha, float beta) { UNARY_BODY }
static void binary_portable(int op, const float *a, int step_a, const float *b, int step_b, float *y, long n) { BINARY_BODY }

// Rows of n outputs: each input advances by its step per element and by its row step per row.
#define BINARY_ROWS(BINARY)                                                                       \
    for (long row = 0; row < rows; row++) BINARY(op, a + row * row_a, step_a, b + row * row_b, step_b, y + row * n, n);

#ifdef OCTET_X86
__attribute__((target("avx2,fma")))
static void unary_avx2(int op, const float *x, float *y, long n, float alpha, float beta) { UNARY_BODY }
__attribute__((target("avx2,fma")))
static void binary_avx2(int op, const float *a, int step_a, const float *b, int step_b, float *y, long n) { BINARY_BODY }
__attribute__((target("avx2,fma")))
static void softmax_avx2(const float *x, float *y, long rows, long n) { SOFTMAX_BODY }
__attribute__((target("avx2,fma")))
static void sum_rows_avx2(const float *x, float *y, long rows, long n, double scale) { SUM_ROWS_BODY }
// Row sums with intrinsics: 32 float lanes (a masked load for the row's tail instead of a scalar
// loop), added up in double.
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void sum_rows_avx512(const float *x, float *y, long rows, long n, double scale) {
    for (long row = 0; row < rows; row++) {
        const float *in = x + row * n;
        __m512 low = _mm512_setzero_ps(), high = _mm512_setzero_ps();
        long i = 0;
        for (; i + 32 <= n; i += 32) {
            low = _mm512_add_ps(low, _mm512_loadu_ps(in + i));
            high = _mm512_add_ps(high, _mm512_loadu_ps(in + i + 16));
        }
        if (i + 16 <= n) {
            low = _mm512_add_ps(low, _mm512_loadu_ps(in + i));
            i += 16;
        }
        if (i < n) high = _mm512_add_ps(high, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1u), in + i));
        __m512d total = _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(low)),
                                      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(low), 1))));
        total = _mm512_add_pd(total, _mm512_cvtps_pd(_mm512_castps512_ps256(high)));
        total = _mm512_add_pd(total, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(high), 1))));
        y[row] = (float)(_mm512_reduce_add_pd(total) * scale);
    }
}
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void softmax_avx512(const float *x, float *y, long rows, long n) { SOFTMAX_BODY }
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void unary_avx512(int op, const float *x, float *y, long n, float alpha, float beta) { UNARY_BODY }
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void binary_avx512(int op, const float *a, int step_a, const float *b, int step_b, float *y, long n) { BINARY_BODY }

// Short rows (a squeeze-excite scale over 7 × 7 planes, 49 floats) with intrinsics: the
// compiler's loop above, unrolled for long rows, ran such rows mostly in its scalar tail. The
// same IEEE operations per element; Relu as max(0, s), which keeps NaN like the scalar form.
#define BINARY_ROWS_512(EXPR)                                                                     \
    for (long row = 0; row < rows; row++) {                                                       \
        const float *pa = a + row * row_a, *pb = b + row * row_b;                                 \
        float *py = y + row * n;                                                                  \
        const __m512 sa = _mm512_set1_ps(pa[0]), sb = _mm512_set1_ps(pb[0]);                     \
        for (long i = 0; i < n; i += 16) {                                                        \
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u); \
            const __m512 u = step_a ? _mm512_maskz_loadu_ps(m, pa + i) : sa;                      \
            const __m512 v = step_b ? _mm512_maskz_loadu_ps(m, pb + i) : sb;                      \
            _mm512_mask_storeu_ps(py + i, m, EXPR);                                               \
        }                                                                                         \
    }
__attribute__((target("avx512f,avx512vl,avx2,fma")))
static void binary_rows_avx512(int op, const float *a, long row_a, int step_a, const float *b, long row_b, int step_b,
                               float *y, long rows, long n) {
    switch (op) {
    case OCTET_BINARY_ADD: BINARY_ROWS_512(_mm512_add_ps(u, v)) break;
    case OCTET_BINARY_SUB: BINARY_ROWS_512(_mm512_sub_ps(u, v)) break;
    case OCTET_BINARY_MUL: BINARY_ROWS_512(_mm512_mul_ps(u, v)) break;
    case OCTET_BINARY_DIV: BINARY_ROWS_512(_mm512_div_ps(u, v)) break;
    case OCTET_BINARY_ADD_RELU: BINARY_ROWS_512(_mm512_max_ps(_mm512_setzero_ps(), _mm512_add_ps(u, v))) break;
    }
}
#endif

// Per thread, so a test forcing the portable path does not change what other threads (other
// tests running at the same time) compute.
static _Thread_local int forced_level = -1;
static int detected_level = -1;

void octet_kernels_set_level(int level) { forced_level = level; }

int octet_kernels_forced_level(void) { return forced_level; }

int octet_kernels_level(void) {
    if (forced_level >= 0) return forced_level;
    if (detected_level < 0) {
#ifdef OCTET_X86
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
        detected_level = avx512 ? 2 : (avx2 ? 1 : 0);
#else
        detected_level = 0;
#endif
    }
    return detected_level;
}

void octet_unary_f32(int op, const float *x, float *y, long n, float alpha, float beta) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: unary_avx512(op, x, y, n, alpha, beta); return;
    case 1: unary_avx2(op, x, y, n, alpha, beta); return;
    }
#endif
    unary_portable(op, x, y, n, alpha, beta);
}

void octet_binary_f32(int op, const float *a, int step_a, const float *b, int step_b, float *y, long n) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: binary_avx512(op, a, step_a, b, step_b, y, n); return;
    case 1: binary_avx2(op, a, step_a, b, step_b, y, n); return;
    }
#endif
    binary_portable(op, a, step_a, b, step_b, y, n);
}

void octet_binary_rows_f32(int op, const float *a, long row_a, int step_a, const float *b, long row_b, int step_b,
                           float *y, long rows, long n) {
    if (rows <= 0 || n <= 0) return;
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: binary_rows_avx512(op, a, row_a, step_a, b, row_b, step_b, y, rows, n); return;
    case 1: BINARY_ROWS(binary_avx2) return;
    }
#endif
    BINARY_ROWS(binary_portable)
}

void octet_softmax_rows_f32(const float *x, float *y, long rows, long n) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: softmax_avx512(x, y, rows, n); return;
    case 1: softmax_avx2(x, y, rows, n); return;
    }
#endif
    softmax_portable(x, y, rows, n);
}

void octet_cpu_pause(void) {
#ifdef OCTET_X86
    __builtin_ia32_pause();
#endif
}

void octet_sum_rows_f32(const float *x, float *y, long rows, long n, double scale) {
    if (n == 1) {
        // A 1 × 1 plane (pooling after pooling): the same value every path computes.
        for (long row = 0; row < rows; row++) y[row] = (float)((double)x[row] * scale);
        return;
    }
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: sum_rows_avx512(x, y, rows, n, scale); return;
    case 1: sum_rows_avx2(x, y, rows, n, scale); return;
    }
#endif
    sum_rows_portable(x, y, rows, n, scale);
}
