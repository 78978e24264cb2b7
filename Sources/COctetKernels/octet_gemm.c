// GEMM micro-kernels: C tile = A rows · B panel, with A either unpacked (row stride `lda`) or
// packed into micro-panels of 12 rows (a[p · 12 + r]), and B a panel of 16 columns whose rows
// are `ldb` floats apart. One AVX-512 kernel (12 × 16), one AVX2/FMA kernel (6 × 16) and a
// portable one; each output element is summed over p in order, from its bias or 0.
#include "octet_kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OCTET_X86 1
#endif

// Portable tile: plain C that compilers vectorize for the baseline instruction set. Element
// (r, p) of A is a[r · row_step + p · k_step]; rows ≤ 6.
static void tile_portable(int rows, int k, const float *a, long row_step, long k_step, const float *b_base, long ldb,
                          float *c, long ldc, int width, int accumulate, const float *row_bias, int relu) {
    float acc[OCTET_GEMM_MR][OCTET_GEMM_NR];
    for (int r = 0; r < OCTET_GEMM_MR; r++) {
        float start = row_bias && r < rows ? row_bias[r] : 0.0f;
        for (int j = 0; j < OCTET_GEMM_NR; j++) acc[r][j] = start;
    }
    for (int p = 0; p < k; p++) {
        const float *b = b_base + (long)p * ldb;
        for (int r = 0; r < rows; r++) {
            float x = a[r * row_step + p * k_step];
            for (int j = 0; j < OCTET_GEMM_NR; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        for (int j = 0; j < width; j++) {
            float v = accumulate ? out[j] + acc[r][j] : acc[r][j];
            out[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

#ifdef OCTET_X86
__attribute__((target("avx2,fma")))
static void tile_avx2(int rows, int k, const float *a, long row_step, long k_step, const float *panel, long ldb,
                      float *c, long ldc, int width, int accumulate, const float *row_bias, int relu) {
    __m256 acc[OCTET_GEMM_MR][2];
    for (int r = 0; r < OCTET_GEMM_MR; r++) {
        __m256 start = row_bias && r < rows ? _mm256_set1_ps(row_bias[r]) : _mm256_setzero_ps();
        acc[r][0] = start;
        acc[r][1] = start;
    }
    if (rows == OCTET_GEMM_MR) {
        for (int p = 0; p < k; p++) {
            __m256 b0 = _mm256_loadu_ps(panel + (long)p * ldb);
            __m256 b1 = _mm256_loadu_ps(panel + (long)p * ldb + 8);
            for (int r = 0; r < OCTET_GEMM_MR; r++) {
                __m256 x = _mm256_broadcast_ss(a + r * row_step + p * k_step);
                acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
            }
        }
    } else {
        for (int p = 0; p < k; p++) {
            __m256 b0 = _mm256_loadu_ps(panel + (long)p * ldb);
            __m256 b1 = _mm256_loadu_ps(panel + (long)p * ldb + 8);
            for (int r = 0; r < rows; r++) {
                __m256 x = _mm256_broadcast_ss(a + r * row_step + p * k_step);
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
            if (relu) {
                // max(0, x) returns its second operand for NaN, so NaN stays NaN.
                low = _mm256_max_ps(_mm256_setzero_ps(), low);
                high = _mm256_max_ps(_mm256_setzero_ps(), high);
            }
            _mm256_storeu_ps(out, low);
            _mm256_storeu_ps(out + 8, high);
        } else {
            float buffer[16];
            _mm256_storeu_ps(buffer, acc[r][0]);
            _mm256_storeu_ps(buffer + 8, acc[r][1]);
            for (int j = 0; j < width; j++) {
                float v = accumulate ? out[j] + buffer[j] : buffer[j];
                out[j] = relu && v < 0.0f ? 0.0f : v;
            }
        }
    }
}

// Stores the first `width` lanes of each row's sums to C (plus C's own values when
// `accumulate`, or those of `addend`, laid out as C, when not NULL; then Relu, NaN staying NaN):
// the end of every 16-wide AVX-512 tile.
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void store_rows(
    const int ROWS, const __m512 *acc, float *c, long ldc, int width, int accumulate, const float *addend, int relu) {
    __mmask16 mask = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1u);
    for (int r = 0; r < ROWS; r++) {
        __m512 value = acc[r];
        if (accumulate) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, c + r * ldc));
        if (addend) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, addend + r * ldc));
        if (relu) value = _mm512_max_ps(_mm512_setzero_ps(), value);
        _mm512_mask_storeu_ps(c + r * ldc, mask, value);
    }
}

// The 12 × 16 AVX-512 tile, one copy per row count (ROWS is a constant at each call site, so the
// accumulators stay in registers) and per A layout: element (r, p) at a[r · row_step + p · k_step],
// (1, 12) for a packed micro-panel, (lda, 1) for rows of an unpacked A.
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void tile_avx512_rows(
    const int ROWS, int k, const float *a, long row_step, long k_step, const float *b, long ldb, float *c, long ldc,
    int width, int accumulate, const float *row_bias, int relu) {
    // One accumulator per row, summed over p in order: the result must not depend on how many
    // rows share a tile (a batch of one and a batch of eight give the same outputs).
    __m512 acc[OCTET_GEMM_PACKED_ROWS];
    for (int r = 0; r < ROWS; r++) acc[r] = row_bias ? _mm512_set1_ps(row_bias[r]) : _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        __m512 column = _mm512_loadu_ps(b + (long)p * ldb);
        const float *x = a + (long)p * k_step;
        for (int r = 0; r < ROWS; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * row_step]), column, acc[r]);
    }
    store_rows(ROWS, acc, c, ldc, width, accumulate, NULL, relu);
}

// One function per row count 1…12 (ROWS a constant in each), and their table.
#define FOR_EACH_ROW_COUNT(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12)
#define ROW_COUNT_TABLE(prefix) { \
    prefix##1, prefix##2, prefix##3, prefix##4, prefix##5, prefix##6, \
    prefix##7, prefix##8, prefix##9, prefix##10, prefix##11, prefix##12}

#define TILE_PARAMS int k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int width, int accumulate, \
    const float *row_bias, int relu
#define TILE_ARGS k, a, lda, b, ldb, c, ldc, width, accumulate, row_bias, relu
#define TILE_ROWS(n) \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_avx512_##n(TILE_PARAMS) { \
        (void)lda; \
        tile_avx512_rows(n, k, a, 1, OCTET_GEMM_PACKED_ROWS, b, ldb, c, ldc, width, accumulate, row_bias, relu); \
    } \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_avx512_strided_##n(TILE_PARAMS) { \
        tile_avx512_rows(n, k, a, lda, 1, b, ldb, c, ldc, width, accumulate, row_bias, relu); \
    }
FOR_EACH_ROW_COUNT(TILE_ROWS)

typedef void (*tile_function)(TILE_PARAMS);
static const tile_function packed_tiles[OCTET_GEMM_PACKED_ROWS] = ROW_COUNT_TABLE(tile_avx512_);
static const tile_function strided_tiles[OCTET_GEMM_PACKED_ROWS] = ROW_COUNT_TABLE(tile_avx512_strided_);
#endif

#ifdef OCTET_X86
// A panel of W < 12 columns over a packed micro-panel, the 12 rows in vector lanes: each step
// of p costs W FMAs (one per column, its B value broadcast) where the 16-wide tile spends 12 on
// mostly empty lanes (a 7 × 7 image's 49 positions leave a panel of one column).
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void narrow_columns(
    const int W, int rows, int k, const float *a, const float *b, long ldb, float *c, long ldc, int accumulate,
    const float *row_bias, int relu) {
    const __mmask16 lanes = (__mmask16)((1u << rows) - 1u);
    const __m512 start = row_bias ? _mm512_maskz_loadu_ps(lanes, row_bias) : _mm512_setzero_ps();
    __m512 acc[OCTET_GEMM_PACKED_ROWS - 1];
    for (int j = 0; j < W; j++) acc[j] = start;
    for (int p = 0; p < k; p++) {
        const __m512 column = _mm512_maskz_loadu_ps((__mmask16)0x0FFF, a + (long)p * OCTET_GEMM_PACKED_ROWS);
        const float *x = b + (long)p * ldb;
        for (int j = 0; j < W; j++) acc[j] = _mm512_fmadd_ps(column, _mm512_set1_ps(x[j]), acc[j]);
    }
    for (int j = 0; j < W; j++) {
        float values[16];
        _mm512_storeu_ps(values, acc[j]);
        for (int r = 0; r < rows; r++) {
            float v = accumulate ? c[r * ldc + j] + values[r] : values[r];
            c[r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

#define NARROW_PARAMS int rows, int k, const float *a, const float *b, long ldb, float *c, long ldc, int accumulate, \
    const float *row_bias, int relu
#define NARROW_COLUMNS(n) \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void narrow_##n(NARROW_PARAMS) { \
        narrow_columns(n, rows, k, a, b, ldb, c, ldc, accumulate, row_bias, relu); \
    }
NARROW_COLUMNS(1) NARROW_COLUMNS(2) NARROW_COLUMNS(3) NARROW_COLUMNS(4) NARROW_COLUMNS(5) NARROW_COLUMNS(6)
NARROW_COLUMNS(7) NARROW_COLUMNS(8) NARROW_COLUMNS(9) NARROW_COLUMNS(10) NARROW_COLUMNS(11)

typedef void (*narrow_function)(NARROW_PARAMS);
static const narrow_function narrow_panels[OCTET_GEMM_PACKED_ROWS - 1] = {
    narrow_1, narrow_2, narrow_3, narrow_4, narrow_5, narrow_6, narrow_7, narrow_8, narrow_9, narrow_10, narrow_11};
#endif

// Rows ≤ 12 of A, element (r, p) at a[r · row_step + p · k_step]: one AVX-512 tile, or 6-row
// tiles of the AVX2 or portable kernel.
static void tile_rows(int rows, int k, const float *a, long row_step, long k_step, const float *b, long ldb, float *c, long ldc,
                      int width, int accumulate, const float *row_bias, int relu) {
    if (rows <= 0 || width <= 0) return;
    if (rows > OCTET_GEMM_PACKED_ROWS) rows = OCTET_GEMM_PACKED_ROWS;
    if (width > OCTET_GEMM_NR) width = OCTET_GEMM_NR;
    int level = octet_kernels_level();
#ifdef OCTET_X86
    if (level >= 2) {
        if (k_step == OCTET_GEMM_PACKED_ROWS && row_step == 1 && width < OCTET_GEMM_PACKED_ROWS) {
            narrow_panels[width - 1](rows, k, a, b, ldb, c, ldc, accumulate, row_bias, relu);
        } else if (k_step == 1) {
            strided_tiles[rows - 1](k, a, row_step, b, ldb, c, ldc, width, accumulate, row_bias, relu);
        } else {
            packed_tiles[rows - 1](k, a, row_step, b, ldb, c, ldc, width, accumulate, row_bias, relu);
        }
        return;
    }
#endif
    for (int half = 0; half < rows; half += OCTET_GEMM_MR) {
        int count = rows - half < OCTET_GEMM_MR ? rows - half : OCTET_GEMM_MR;
        const float *bias = row_bias ? row_bias + half : 0;
        const float *first = a + half * row_step;
#ifdef OCTET_X86
        if (level >= 1) {
            tile_avx2(count, k, first, row_step, k_step, b, ldb, c + half * ldc, ldc, width, accumulate, bias, relu);
            continue;
        }
#endif
        tile_portable(count, k, first, row_step, k_step, b, ldb, c + half * ldc, ldc, width, accumulate, bias, relu);
    }
}

#ifdef OCTET_X86
// Two 16-column panels of B over one packed micro-panel (a 12 × 32 tile): 2 × ROWS
// accumulators, each A value broadcast once for both. The second panel starts `second` floats
// after the first (the next packed panel, or the next 16 columns of rows `ldb` apart). Every sum
// runs over p in the same order and from the same start as in the 16-wide tile, so the results
// equal those of two single tiles.
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void pair_avx512_rows(
    const int ROWS, int k, const float *a, const float *b, long ldb, long second, float *c, long ldc, int accumulate,
    const float *addend, const float *row_bias, int relu) {
    __m512 left[OCTET_GEMM_PACKED_ROWS], right[OCTET_GEMM_PACKED_ROWS];
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++) left[r] = right[r] = row_bias ? _mm512_set1_ps(row_bias[r]) : _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        __m512 first = _mm512_loadu_ps(b + (long)p * ldb);
        __m512 next = _mm512_loadu_ps(b + (long)p * ldb + second);
        const float *x = a + (long)p * OCTET_GEMM_PACKED_ROWS;
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            __m512 value = _mm512_set1_ps(x[r]);
            left[r] = _mm512_fmadd_ps(value, first, left[r]);
            right[r] = _mm512_fmadd_ps(value, next, right[r]);
        }
    }
    store_rows(ROWS, left, c, ldc, OCTET_GEMM_NR, accumulate, addend, relu);
    store_rows(ROWS, right, c + OCTET_GEMM_NR, ldc, OCTET_GEMM_NR, accumulate, addend ? addend + OCTET_GEMM_NR : NULL, relu);
}

#define PAIR_PARAMS int k, const float *a, const float *b, long ldb, long second, float *c, long ldc, int accumulate, \
    const float *addend, const float *row_bias, int relu
#define PAIR_ROWS(n) \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void pair_avx512_##n(PAIR_PARAMS) { \
        pair_avx512_rows(n, k, a, b, ldb, second, c, ldc, accumulate, addend, row_bias, relu); \
    }
FOR_EACH_ROW_COUNT(PAIR_ROWS)
typedef void (*pair_function)(PAIR_PARAMS);
static const pair_function pair_tiles[OCTET_GEMM_PACKED_ROWS] = ROW_COUNT_TABLE(pair_avx512_);
#endif

void octet_sgemm_panels(int rows, int k, const float *a, const float *b, long ldb, long panel_step, int count, float *c,
                        long ldc, int last_width, int accumulate, const float *addend, const float *row_bias, int relu) {
    int panel = 0;
#ifdef OCTET_X86
    if (octet_kernels_level() >= 2 && rows >= 1 && rows <= OCTET_GEMM_PACKED_ROWS) {
        int full = count - (last_width < OCTET_GEMM_NR ? 1 : 0);
        for (; panel + 1 < full; panel += 2) {
            long column = (long)panel * OCTET_GEMM_NR;
            pair_tiles[rows - 1](k, a, b + panel * panel_step, ldb, panel_step, c + column, ldc, accumulate,
                                 addend ? addend + column : NULL, row_bias, relu);
        }
    }
#endif
    for (; panel < count; panel++) {
        int width = panel == count - 1 ? last_width : OCTET_GEMM_NR;
        long column = (long)panel * OCTET_GEMM_NR;
        if (addend) {
            // The other tiles add C's values: C starts as the addend's (the same sums in the same order).
            for (int r = 0; r < rows; r++) memcpy(c + r * ldc + column, addend + r * ldc + column, sizeof(float) * (size_t)width);
        }
        tile_rows(rows, k, a, 1, OCTET_GEMM_PACKED_ROWS, b + panel * panel_step, ldb, c + column, ldc, width,
                  accumulate || addend != NULL, row_bias, relu);
    }
}

void octet_sgemm_tile_rows(int rows, int k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                           int width, int accumulate, const float *row_bias, int relu) {
    tile_rows(rows, k, a, lda, 1, b, ldb, c, ldc, width, accumulate, row_bias, relu);
}

#ifdef OCTET_X86
// PANELS (a constant at each call site) panels of one row: one accumulator per panel, p in order.
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void row_panels_avx512(
    const int PANELS, int k, const float *a, const float *b, long panel_step, float *c, int last_width, int accumulate) {
    __m512 acc[8];
    for (int j = 0; j < PANELS; j++) acc[j] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        const __m512 x = _mm512_set1_ps(a[p]);
        for (int j = 0; j < PANELS; j++) acc[j] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + j * panel_step + (long)p * OCTET_GEMM_NR), acc[j]);
    }
    for (int j = 0; j < PANELS; j++) store_rows(1, acc + j, c + j * OCTET_GEMM_NR, 0, j == PANELS - 1 ? last_width : OCTET_GEMM_NR, accumulate, NULL, 0);
}

#define ROW_PANELS(n) \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void row_panels_##n(int k, const float *a, const float *b, \
        long panel_step, float *c, int last_width, int accumulate) { \
        row_panels_avx512(n, k, a, b, panel_step, c, last_width, accumulate); \
    }
ROW_PANELS(1) ROW_PANELS(2) ROW_PANELS(3) ROW_PANELS(4) ROW_PANELS(5) ROW_PANELS(6) ROW_PANELS(7) ROW_PANELS(8)
typedef void (*row_panels_kernel)(int, const float *, const float *, long, float *, int, int);
static const row_panels_kernel row_panels[8] = {row_panels_1, row_panels_2, row_panels_3, row_panels_4,
                                                 row_panels_5, row_panels_6, row_panels_7, row_panels_8};
#endif

void octet_sgemm_row_panels(int k, const float *a, const float *b, long panel_step, int count, float *c, int last_width,
                            int accumulate) {
#ifdef OCTET_X86
    if (octet_kernels_level() >= 2) {
        for (int first = 0; first < count; first += 8) {
            const int panels = count - first < 8 ? count - first : 8;
            row_panels[panels - 1](k, a, b + first * panel_step, panel_step, c + first * OCTET_GEMM_NR,
                                   first + panels == count ? last_width : OCTET_GEMM_NR, accumulate);
        }
        return;
    }
#endif
    for (int panel = 0; panel < count; panel++) {
        tile_rows(1, k, a, k, 1, b + panel * panel_step, OCTET_GEMM_NR, c + panel * OCTET_GEMM_NR, 0,
                  panel == count - 1 ? last_width : OCTET_GEMM_NR, accumulate, NULL, 0);
    }
}

void octet_pack_rows(int rows, int k, const float *a, long lda, float *packed) {
    for (int p = 0; p < k; p++) {
        float *target = packed + (long)p * OCTET_GEMM_PACKED_ROWS;
        int r = 0;
        for (; r < rows && r < OCTET_GEMM_PACKED_ROWS; r++) target[r] = a[r * lda + p];
        for (; r < OCTET_GEMM_PACKED_ROWS; r++) target[r] = 0.0f;
    }
}

#ifdef OCTET_X86
// The same copy with one (masked) vector per panel row: a partial last panel of many rows (a 1×1
// convolution over 7 × 7 positions, 49 = 3 · 16 + 1) was a scalar loop over 16 floats per row.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void pack_panels_avx512(int k, const float *b, long ldb, long columns,
                                                                                    float *panels) {
    const long full = columns / OCTET_GEMM_NR;
    const long stride = (long)k * OCTET_GEMM_NR;
    const long width = columns - full * OCTET_GEMM_NR;
    const __mmask16 mask = (__mmask16)((1u << width) - 1u);
    for (int p = 0; p < k; p++) {
        const float *source = b + (long)p * ldb;
        float *target = panels + (long)p * OCTET_GEMM_NR;
        for (long i = 0; i < full; i++) _mm512_storeu_ps(target + i * stride, _mm512_loadu_ps(source + i * OCTET_GEMM_NR));
        if (width > 0) _mm512_storeu_ps(target + full * stride, _mm512_maskz_loadu_ps(mask, source + full * OCTET_GEMM_NR));
    }
}
#endif

void octet_pack_panels(int k, const float *b, long ldb, long columns, float *panels) {
#ifdef OCTET_X86
    if (OCTET_GEMM_NR == 16 && octet_kernels_level() >= 2) {
        pack_panels_avx512(k, b, ldb, columns, panels);
        return;
    }
#endif
    const long count = (columns + OCTET_GEMM_NR - 1) / OCTET_GEMM_NR;
    const long full = columns / OCTET_GEMM_NR;
    const long stride = (long)k * OCTET_GEMM_NR;
    for (int p = 0; p < k; p++) {
        const float *source = b + (long)p * ldb;
        float *target = panels + (long)p * OCTET_GEMM_NR;
        for (long i = 0; i < full; i++) memcpy(target + i * stride, source + i * OCTET_GEMM_NR, sizeof(float) * OCTET_GEMM_NR);
        if (full < count) {
            float *last = target + full * stride;
            long width = columns - full * OCTET_GEMM_NR;
            for (long j = 0; j < width; j++) last[j] = source[full * OCTET_GEMM_NR + j];
            for (long j = width; j < OCTET_GEMM_NR; j++) last[j] = 0;
        }
    }
}

// y[r] = bias[r] + Σ_p a[p · 12 + r] · x[p · incx] for a packed micro-panel (a matrix-vector
// product: a 1×1 convolution of a single position), with the tile's optional Relu.
static inline __attribute__((always_inline)) void gemv_body(int rows, int k, const float *a, const float *x, long incx,
                                                             float *y, const float *row_bias, int relu) {
    // Four partial sums over alternating steps of p: one chain would wait on the FMA latency.
    float acc[4][OCTET_GEMM_PACKED_ROWS];
    for (int r = 0; r < OCTET_GEMM_PACKED_ROWS; r++) {
        acc[0][r] = row_bias && r < rows ? row_bias[r] : 0.0f;
        acc[1][r] = acc[2][r] = acc[3][r] = 0.0f;
    }
    int p = 0;
    for (; p + 4 <= k; p += 4) {
        for (int chain = 0; chain < 4; chain++) {
            const float value = x[(long)(p + chain) * incx];
            const float *column = a + (long)(p + chain) * OCTET_GEMM_PACKED_ROWS;
            for (int r = 0; r < OCTET_GEMM_PACKED_ROWS; r++) acc[chain][r] += column[r] * value;
        }
    }
    for (; p < k; p++) {
        const float value = x[(long)p * incx];
        const float *column = a + (long)p * OCTET_GEMM_PACKED_ROWS;
        for (int r = 0; r < OCTET_GEMM_PACKED_ROWS; r++) acc[0][r] += column[r] * value;
    }
    for (int r = 0; r < rows && r < OCTET_GEMM_PACKED_ROWS; r++) {
        float sum = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
        y[r] = relu && sum < 0.0f ? 0.0f : sum;
    }
}

#define GEMV_PARAMS int rows, int k, const float *a, const float *x, long incx, float *y, const float *row_bias, int relu
#define GEMV_ARGS rows, k, a, x, incx, y, row_bias, relu
static void gemv_portable(GEMV_PARAMS) { gemv_body(GEMV_ARGS); }
#ifdef OCTET_X86
__attribute__((target("avx2,fma"))) static void gemv_avx2(GEMV_PARAMS) { gemv_body(GEMV_ARGS); }
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void gemv_avx512(GEMV_PARAMS) { gemv_body(GEMV_ARGS); }
#endif

void octet_sgemv_packed(GEMV_PARAMS) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: gemv_avx512(GEMV_ARGS); return;
    case 1: gemv_avx2(GEMV_ARGS); return;
    }
#endif
    gemv_portable(GEMV_ARGS);
}

#ifdef OCTET_X86
// The 12 × 16 AVX-512 tile with B row p gathered from up to SEGMENTS runs of lanes, lane j of
// run s at b[starts[s] + j + offsets[p]] for the lanes in masks[s]: an implicit-GEMM
// convolution whose 16 positions span the ends of output rows reads each row's run straight
// from the zero-padded image, one masked load per run (no im2col, no empty lanes).
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx2,fma"))) void tile_segments_rows(
    const int ROWS, const int SEGMENTS, int k, const float *a, const float *b, const long *starts, const unsigned short *masks,
    const long *offsets, float *c, long ldc, int width, int accumulate, const float *row_bias, int relu) {
    __m512 acc[OCTET_GEMM_PACKED_ROWS];
    for (int r = 0; r < ROWS; r++) acc[r] = row_bias ? _mm512_set1_ps(row_bias[r]) : _mm512_setzero_ps();
    const float *base[4];
    __mmask16 lanes[4];
    for (int s = 0; s < SEGMENTS; s++) {
        base[s] = b + starts[s];
        lanes[s] = (__mmask16)masks[s];
    }
    for (int p = 0; p < k; p++) {
        const long offset = offsets[p];
        __m512 column = SEGMENTS == 1 && lanes[0] == 0xFFFF ? _mm512_loadu_ps(base[0] + offset)
                                                           : _mm512_maskz_loadu_ps(lanes[0], base[0] + offset);
        for (int s = 1; s < SEGMENTS; s++) column = _mm512_mask_loadu_ps(column, lanes[s], base[s] + offset);
        const float *x = a + (long)p * OCTET_GEMM_PACKED_ROWS;
        for (int r = 0; r < ROWS; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r]), column, acc[r]);
    }
    store_rows(ROWS, acc, c, ldc, width, accumulate, NULL, relu);
}

#define SEGMENTS_PARAMS int k, const float *a, const float *b, const long *starts, const unsigned short *masks, \
    const long *offsets, float *c, long ldc, int width, int accumulate, const float *row_bias, int relu
#define SEGMENTS_ARGS k, a, b, starts, masks, offsets, c, ldc, width, accumulate, row_bias, relu
#define SEGMENTS_ROWS(n) \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_segments1_##n(SEGMENTS_PARAMS) { \
        tile_segments_rows(n, 1, SEGMENTS_ARGS); \
    } \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_segments2_##n(SEGMENTS_PARAMS) { \
        tile_segments_rows(n, 2, SEGMENTS_ARGS); \
    } \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_segments3_##n(SEGMENTS_PARAMS) { \
        tile_segments_rows(n, 3, SEGMENTS_ARGS); \
    } \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void tile_segments4_##n(SEGMENTS_PARAMS) { \
        tile_segments_rows(n, 4, SEGMENTS_ARGS); \
    }
FOR_EACH_ROW_COUNT(SEGMENTS_ROWS)

typedef void (*segments_function)(SEGMENTS_PARAMS);
static const segments_function segments_tiles[4][OCTET_GEMM_PACKED_ROWS] = {
    ROW_COUNT_TABLE(tile_segments1_), ROW_COUNT_TABLE(tile_segments2_), ROW_COUNT_TABLE(tile_segments3_),
    ROW_COUNT_TABLE(tile_segments4_)};
#endif

int octet_sgemm_tile_segments(int rows, int k, const float *a, const float *b, int segment_count, const long *starts,
                              const unsigned short *masks, const long *offsets, float *c, long ldc, int width,
                              int accumulate, const float *row_bias, int relu) {
#ifdef OCTET_X86
    if (octet_kernels_level() >= 2) {
        if (rows <= 0 || width <= 0 || segment_count <= 0) return 1;
        if (rows > OCTET_GEMM_PACKED_ROWS) rows = OCTET_GEMM_PACKED_ROWS;
        if (width > OCTET_GEMM_NR) width = OCTET_GEMM_NR;
        if (segment_count > 4) segment_count = 4;
        segments_tiles[segment_count - 1][rows - 1](k, a, b, starts, masks, offsets, c, ldc, width, accumulate, row_bias, relu);
        return 1;
    }
#endif
    (void)rows; (void)k; (void)a; (void)b; (void)segment_count; (void)starts; (void)masks; (void)offsets; (void)c; (void)ldc;
    (void)width; (void)accumulate; (void)row_bias; (void)relu;
    return 0;
}

#ifdef OCTET_X86
// line[j] = row[2·j] for j < count (one phase of a stride-2 row): 32 inputs, their even lanes
// gathered by one two-source permute, per 16 outputs; masked loads at the end of the row.
__attribute__((target("avx512f,avx512vl"))) static void even_columns_avx512(const float *row, long count, float *line) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    long j = 0;
    for (; j + 16 <= count; j += 16) {
        // The last input read is row[2·j + 30]; the second load's 32nd lane stays masked off.
        __m512 low = _mm512_loadu_ps(row + 2 * j);
        __m512 high = _mm512_maskz_loadu_ps((__mmask16)0x7FFF, row + 2 * j + 16);
        _mm512_storeu_ps(line + j, _mm512_permutex2var_ps(low, even, high));
    }
    if (j < count) {
        long inputs = 2 * (count - j) - 1; // row[2·j … 2·count − 2]
        __mmask16 first = (__mmask16)(inputs >= 16 ? 0xFFFF : (1u << inputs) - 1u);
        __mmask16 second = (__mmask16)(inputs <= 16 ? 0 : (1u << (inputs - 16)) - 1u);
        __m512 low = _mm512_maskz_loadu_ps(first, row + 2 * j);
        __m512 high = _mm512_maskz_loadu_ps(second, row + 2 * j + 16);
        _mm512_mask_storeu_ps(line + j, (__mmask16)((1u << (count - j)) - 1u), _mm512_permutex2var_ps(low, even, high));
    }
}
#endif

void octet_subsample_planes(const float *x, long planes, int height, int width, int stride_h, int stride_w,
                            int out_h, int out_w, float *y) {
    for (long p = 0; p < planes; p++) {
        const float *plane = x + p * (long)height * width;
        for (int i = 0; i < out_h; i++) {
            const float *row = plane + (long)i * stride_h * width;
            float *out = y + (p * out_h + i) * (long)out_w;
            for (int j = 0; j < out_w; j++) out[j] = row[(long)j * stride_w];
        }
    }
}

void octet_phase_planes(const float *image, int channels, int height, int width, int pad_top, int pad_left,
                        int stride_h, int stride_w, int phase_h, int phase_w, float *out) {
    const long plane = (long)phase_h * phase_w;
    for (int c = 0; c < channels; c++) {
        const float *source = image + (long)c * height * width;
        for (int a = 0; a < stride_h; a++) {
            for (int b = 0; b < stride_w; b++) {
                float *target = out + (((long)c * stride_h + a) * stride_w + b) * plane;
                // Phase columns j read image column j·stride_w + b − pad_left: [first, last) inside.
                int first = pad_left - b > 0 ? (pad_left - b + stride_w - 1) / stride_w : 0;
                int last = (width - 1 + pad_left - b) / stride_w + 1;
                if (width - 1 + pad_left - b < 0) last = 0;
                if (last > phase_w) last = phase_w;
                if (first > last) first = last;
                for (int r = 0; r < phase_h; r++) {
                    float *line = target + (long)r * phase_w;
                    int ih = r * stride_h + a - pad_top;
                    if (ih < 0 || ih >= height || first >= last) {
                        memset(line, 0, sizeof(float) * (size_t)phase_w);
                        continue;
                    }
                    const float *row = source + (long)ih * width;
                    const long shift = (long)b - pad_left; // image column of phase column j: j·stride_w + shift
                    memset(line, 0, sizeof(float) * (size_t)first);
                    if (stride_w == 1) {
                        memcpy(line + first, row + first + shift, sizeof(float) * (size_t)(last - first));
#ifdef OCTET_X86
                    } else if (stride_w == 2 && octet_kernels_level() >= 2) {
                        even_columns_avx512(row + (long)first * 2 + shift, last - first, line + first);
#endif
                    } else {
                        for (int j = first; j < last; j++) line[j] = row[(long)j * stride_w + shift];
                    }
                    memset(line + last, 0, sizeof(float) * (size_t)(phase_w - last));
                }
            }
        }
    }
}
