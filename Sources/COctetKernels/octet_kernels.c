#include "octet_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OCTET_X86 1
#endif

static int stats_portable = 0;

void octet_stats_set_portable(int portable) { stats_portable = portable; }

int octet_stats_portable(void) { return stats_portable; }

int octet_kernels_use_avx2(void) { return octet_kernels_level() >= 1; }

static void column_range(int shift, int stride, int width, int out_w, int *first, int *last);

void octet_im2col_rows_2d(const float *image, int channels, int height, int width,
                          int kernel_h, int kernel_w, int stride_h, int stride_w,
                          int dilation_h, int dilation_w, int pad_top, int pad_left,
                          int out_h, int out_w, long first, int count, int channel_first, int channel_last,
                          long ldb, float *columns) {
    (void)out_h;
    for (int c = channel_first; c < channel_last; c++) {
        const float *plane = image + (long)c * height * width;
        for (int ki = 0; ki < kernel_h; ki++) {
            for (int kj = 0; kj < kernel_w; kj++) {
                float *row = columns + ((long)(c * kernel_h + ki) * kernel_w + kj) * ldb;
                const int shift = kj * dilation_w - pad_left; // iw = ow · stride_w + shift
                int first_inside, last_inside;                // output columns whose iw is inside
                column_range(shift, stride_w, width, out_w, &first_inside, &last_inside);
                long position = first;
                int j = 0;
                while (j < count) {
                    int oh = (int)(position / out_w), ow = (int)(position % out_w);
                    int length = out_w - ow < count - j ? out_w - ow : count - j;
                    float *out = row + j;
                    long ih = (long)oh * stride_h - pad_top + (long)ki * dilation_h;
                    if (ih < 0 || ih >= height) {
                        memset(out, 0, sizeof(float) * (size_t)length);
                    } else {
                        const float *line = plane + ih * width;
                        int lo = first_inside > ow ? first_inside : ow;                            // first inside
                        int hi = last_inside < ow + length - 1 ? last_inside : ow + length - 1;   // last inside
                        if (lo > hi) {
                            memset(out, 0, sizeof(float) * (size_t)length);
                        } else {
                            if (lo > ow) memset(out, 0, sizeof(float) * (size_t)(lo - ow));
                            if (stride_w == 1) {
                                memcpy(out + (lo - ow), line + lo + shift, sizeof(float) * (size_t)(hi - lo + 1));
                            } else {
                                for (int o = lo; o <= hi; o++) out[o - ow] = line[(long)o * stride_w + shift];
                            }
                            if (hi < ow + length - 1) memset(out + (hi - ow + 1), 0, sizeof(float) * (size_t)(ow + length - 1 - hi));
                        }
                    }
                    j += length;
                    position += length;
                }
                if (ldb > count) memset(row + count, 0, sizeof(float) * (size_t)(ldb - count));
            }
        }
    }
}

void octet_col2im_add_2d(const float *columns, int channels, int height, int width, int kernel_h, int kernel_w,
                         int stride_h, int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left,
                         float *out, int out_h, int out_w) {
    const long plane = (long)height * width;
    for (int c = 0; c < channels; c++) {
        float *target = out + (long)c * out_h * out_w;
        for (int ki = 0; ki < kernel_h; ki++) {
            for (int kj = 0; kj < kernel_w; kj++) {
                const float *row = columns + ((long)(c * kernel_h + ki) * kernel_w + kj) * plane;
                // Input columns iw whose output column iw·stride + shift lies inside the output.
                int shift = kj * dilation_w - pad_left, first, last;
                column_range(shift, stride_w, out_w, width, &first, &last);
                for (int ih = 0; ih < height; ih++) {
                    long oh = (long)ih * stride_h + (long)ki * dilation_h - pad_top;
                    if (oh < 0 || oh >= out_h) continue;
                    float *line = target + oh * out_w;
                    const float *source = row + (long)ih * width;
                    if (stride_w == 1) {
                        for (int iw = first; iw <= last; iw++) line[iw + shift] += source[iw];
                    } else {
                        for (int iw = first; iw <= last; iw++) line[(long)iw * stride_w + shift] += source[iw];
                    }
                }
            }
        }
    }
}

static int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output columns [first, last] whose tap lands inside a row of `width`: 0 <= ow·stride + shift < width.
static void column_range(int shift, int stride, int width, int out_w, int *first, int *last) {
    *first = ceil_div(-shift, stride);
    *last = floor_div(width - 1 - shift, stride);
    if (*first < 0) *first = 0;
    if (*last > out_w - 1) *last = out_w - 1;
}

// One output row of a depthwise convolution over a zero-padded plane: blocks of 16 outputs
// accumulate every tap in registers (one store per output instead of one per tap). `stride_w`
// is a constant at each call site, so each stride gets its own vectorized loop.
static inline __attribute__((always_inline)) void depthwise_row(
    const float *padded, long padded_w, const float *kernel, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int dilation_h, int dilation_w, float bias, float *row, int oh, int out_w) {
    for (int block = 0; block < out_w; block += 16) {
        float acc[16];
        for (int j = 0; j < 16; j++) acc[j] = bias;
        for (int ki = 0; ki < kernel_h; ki++) {
            const float *line = padded + (long)(oh * stride_h + ki * dilation_h) * padded_w + (long)block * stride_w;
            for (int kj = 0; kj < kernel_w; kj++) {
                const float weight = kernel[ki * kernel_w + kj];
                const float *source = line + kj * dilation_w;
                for (int j = 0; j < 16; j++) acc[j] += weight * source[j * stride_w];
            }
        }
        int count = out_w - block < 16 ? out_w - block : 16;
        for (int j = 0; j < count; j++) row[block + j] = acc[j];
    }
}

long octet_depthwise_scratch(int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                             int dilation_h, int dilation_w) {
    if (out_h <= 0 || out_w <= 0) return 0;
    long blocks = (out_w + 15) / 16;
    long padded_h = (long)(out_h - 1) * stride_h + (long)(kernel_h - 1) * dilation_h + 1;
    long padded_w = (blocks * 16 - 1) * stride_w + (long)(kernel_w - 1) * dilation_w + 1;
    return padded_h * padded_w + 32; // the AVX-512 stride-2 loads read up to 16 floats past a row
}

// Copies a plane into `padded` (padded_h × padded_w) at offset (pad_top, pad_left), `fill`
// everywhere else (a negative pad drops leading rows or columns).
static inline __attribute__((always_inline)) void pad_plane(const float *image, int height, int width, int pad_top, int pad_left,
                                                            float *padded, long padded_h, long padded_w, float fill) {
    for (long r = 0; r < padded_h; r++) {
        float *line = padded + r * padded_w;
        long ih = r - pad_top;
        long first = pad_left > 0 ? pad_left : 0;              // first padded column holding image data
        long source = first - pad_left;                          // its image column
        long count = width - source;
        if (first + count > padded_w) count = padded_w - first;
        if (ih < 0 || ih >= height || count <= 0) {
            for (long j = 0; j < padded_w; j++) line[j] = fill;
            continue;
        }
        for (long j = 0; j < first; j++) line[j] = fill;
        memcpy(line + first, image + ih * width + source, (size_t)count * sizeof(float));
        for (long j = first + count; j < padded_w; j++) line[j] = fill;
    }
}

// The depthwise body, inlined into one copy per instruction set below. The plane is first
// copied into `scratch`, zero-padded and wide enough for whole blocks of 16 outputs, so the
// taps need no bounds checks.
static inline __attribute__((always_inline)) void depthwise_body(
    const float *image, int height, int width, const float *kernel, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int dilation_h, int dilation_w, int pad_top, int pad_left, float bias, float *out, int out_h, int out_w, float *padded) {
    if (out_h <= 0 || out_w <= 0) return;
    long blocks = (out_w + 15) / 16;
    long padded_h = (long)(out_h - 1) * stride_h + (long)(kernel_h - 1) * dilation_h + 1;
    long padded_w = (blocks * 16 - 1) * stride_w + (long)(kernel_w - 1) * dilation_w + 1;
    pad_plane(image, height, width, pad_top, pad_left, padded, padded_h, padded_w, 0.0f);
    for (int oh = 0; oh < out_h; oh++) {
        float *row = out + (long)oh * out_w;
        if (stride_w == 1) {
            depthwise_row(padded, padded_w, kernel, kernel_h, kernel_w, stride_h, 1, dilation_h, dilation_w, bias, row, oh, out_w);
        } else if (stride_w == 2) {
            depthwise_row(padded, padded_w, kernel, kernel_h, kernel_w, stride_h, 2, dilation_h, dilation_w, bias, row, oh, out_w);
        } else {
            depthwise_row(padded, padded_w, kernel, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, bias, row, oh, out_w);
        }
    }
}

#define DEPTHWISE_ARGS image, height, width, kernel, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, bias, out, out_h, out_w, scratch
#define DEPTHWISE_PARAMS const float *image, int height, int width, const float *kernel, int kernel_h, int kernel_w, int stride_h, \
    int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left, float bias, float *out, int out_h, int out_w, float *scratch

static void depthwise_portable(DEPTHWISE_PARAMS) { depthwise_body(DEPTHWISE_ARGS); }
#ifdef OCTET_X86
__attribute__((target("avx2,fma"))) static void depthwise_avx2(DEPTHWISE_PARAMS) { depthwise_body(DEPTHWISE_ARGS); }

// 16 outputs of a depthwise row from the padded plane at `source` (stride 1 or 2).
#define DEPTHWISE_LOAD(source) (stride_w == 1 ? _mm512_loadu_ps(source) \
    : _mm512_permutex2var_ps(_mm512_loadu_ps(source), even, _mm512_loadu_ps((source) + 16)))

// AVX-512 with intrinsics, strides 1 and 2: four blocks of 16 outputs at a time, one vector
// accumulator each (four independent FMA chains hide the FMA latency), every tap of the kernel
// added before one store.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void depthwise_avx512(DEPTHWISE_PARAMS) {
    if (stride_w > 2) {
        depthwise_body(DEPTHWISE_ARGS);
        return;
    }
    if (out_h <= 0 || out_w <= 0) return;
    const long blocks = (out_w + 15) / 16;
    const long padded_h = (long)(out_h - 1) * stride_h + (long)(kernel_h - 1) * dilation_h + 1;
    const long padded_w = (blocks * 16 - 1) * stride_w + (long)(kernel_w - 1) * dilation_w + 1;
    pad_plane(image, height, width, pad_top, pad_left, scratch, padded_h, padded_w, 0.0f);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const long step = 16L * stride_w; // padded columns between blocks
    for (int oh = 0; oh < out_h; oh++) {
        float *row = out + (long)oh * out_w;
        const float *top = scratch + (long)oh * stride_h * padded_w;
        long block = 0;
        for (; block + 4 <= blocks; block += 4) {
            __m512 a0 = _mm512_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
            for (int ki = 0; ki < kernel_h; ki++) {
                const float *line = top + (long)ki * dilation_h * padded_w + block * step;
                for (int kj = 0; kj < kernel_w; kj++) {
                    const __m512 w = _mm512_set1_ps(kernel[ki * kernel_w + kj]);
                    const float *source = line + (long)kj * dilation_w;
                    a0 = _mm512_fmadd_ps(w, DEPTHWISE_LOAD(source), a0);
                    a1 = _mm512_fmadd_ps(w, DEPTHWISE_LOAD(source + step), a1);
                    a2 = _mm512_fmadd_ps(w, DEPTHWISE_LOAD(source + 2 * step), a2);
                    a3 = _mm512_fmadd_ps(w, DEPTHWISE_LOAD(source + 3 * step), a3);
                }
            }
            __m512 results[4] = {a0, a1, a2, a3};
            for (int b = 0; b < 4; b++) {
                long first = (block + b) * 16;
                long count = out_w - first < 16 ? out_w - first : 16;
                _mm512_mask_storeu_ps(row + first, (__mmask16)((1u << count) - 1u), results[b]);
            }
        }
        for (; block < blocks; block++) {
            __m512 a0 = _mm512_set1_ps(bias);
            for (int ki = 0; ki < kernel_h; ki++) {
                const float *line = top + (long)ki * dilation_h * padded_w + block * step;
                for (int kj = 0; kj < kernel_w; kj++) {
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(kernel[ki * kernel_w + kj]), DEPTHWISE_LOAD(line + (long)kj * dilation_w), a0);
                }
            }
            long first = block * 16;
            long count = out_w - first < 16 ? out_w - first : 16;
            _mm512_mask_storeu_ps(row + first, (__mmask16)((1u << count) - 1u), a0);
        }
    }
}
#endif

void octet_depthwise_plane(DEPTHWISE_PARAMS) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: depthwise_avx512(DEPTHWISE_ARGS); return;
    case 1: depthwise_avx2(DEPTHWISE_ARGS); return;
    }
#endif
    depthwise_portable(DEPTHWISE_ARGS);
}

// One output row of max pooling over a plane padded with -inf: blocks of 16 outputs keep their
// maxima in registers. `value > best ? value : best` skips NaN (and maps to one max instruction).
static inline __attribute__((always_inline)) void maxpool_row(
    const float *padded, long padded_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int dilation_h, int dilation_w, float *row, int oh, int out_w) {
    for (int block = 0; block < out_w; block += 16) {
        float best[16];
        for (int j = 0; j < 16; j++) best[j] = -INFINITY;
        for (int ki = 0; ki < kernel_h; ki++) {
            const float *line = padded + (long)(oh * stride_h + ki * dilation_h) * padded_w + (long)block * stride_w;
            for (int kj = 0; kj < kernel_w; kj++) {
                const float *source = line + kj * dilation_w;
                for (int j = 0; j < 16; j++) {
                    float value = source[j * stride_w];
                    best[j] = value > best[j] ? value : best[j];
                }
            }
        }
        int count = out_w - block < 16 ? out_w - block : 16;
        for (int j = 0; j < count; j++) row[block + j] = best[j];
    }
}

static inline __attribute__((always_inline)) void maxpool_body(
    const float *image, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
    int dilation_h, int dilation_w, int pad_top, int pad_left, float *out, int out_h, int out_w, float *padded) {
    if (out_h <= 0 || out_w <= 0) return;
    long blocks = (out_w + 15) / 16;
    long padded_h = (long)(out_h - 1) * stride_h + (long)(kernel_h - 1) * dilation_h + 1;
    long padded_w = (blocks * 16 - 1) * stride_w + (long)(kernel_w - 1) * dilation_w + 1;
    pad_plane(image, height, width, pad_top, pad_left, padded, padded_h, padded_w, -INFINITY);
    for (int oh = 0; oh < out_h; oh++) {
        float *row = out + (long)oh * out_w;
        if (stride_w == 1) {
            maxpool_row(padded, padded_w, kernel_h, kernel_w, stride_h, 1, dilation_h, dilation_w, row, oh, out_w);
        } else if (stride_w == 2) {
            maxpool_row(padded, padded_w, kernel_h, kernel_w, stride_h, 2, dilation_h, dilation_w, row, oh, out_w);
        } else {
            maxpool_row(padded, padded_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, row, oh, out_w);
        }
    }
}

#define MAXPOOL_ARGS image, height, width, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, out, out_h, out_w, scratch
#define MAXPOOL_PARAMS const float *image, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w, \
    int dilation_h, int dilation_w, int pad_top, int pad_left, float *out, int out_h, int out_w, float *scratch

static void maxpool_portable(MAXPOOL_PARAMS) { maxpool_body(MAXPOOL_ARGS); }
#ifdef OCTET_X86
__attribute__((target("avx2,fma"))) static void maxpool_avx2(MAXPOOL_PARAMS) { maxpool_body(MAXPOOL_ARGS); }
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void maxpool_avx512(MAXPOOL_PARAMS) { maxpool_body(MAXPOOL_ARGS); }
#endif

void octet_maxpool_plane(MAXPOOL_PARAMS) {
#ifdef OCTET_X86
    switch (octet_kernels_level()) {
    case 2: maxpool_avx512(MAXPOOL_ARGS); return;
    case 1: maxpool_avx2(MAXPOOL_ARGS); return;
    }
#endif
    maxpool_portable(MAXPOOL_ARGS);
}
