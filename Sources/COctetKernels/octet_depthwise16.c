// Depthwise 2-D convolution with 16 channels in the lanes of one AVX-512 vector: a strip of
// input rows is transposed into a zero-padded channel-blocked buffer ([row][column][16]), every
// output position is then one vector of 16 channels summed over the taps (each tap one FMA with
// a vector of 16 per-channel weights, whatever the stride or the plane's width), and the blocked
// results are transposed back into the channel planes. Planes too narrow for a vector of
// columns (7 × 7 at the end of a MobileNet) thus cost no wasted lanes, and stride 2 needs no
// shuffles.
#include "octet_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OCTET_X86 1
#endif

// Floats between rows of the blocked buffer: the padded width, plus one spare column so that a
// strip's transpose may write whole blocks of 16 columns.
static long blocked_width(int out_w, int kernel_w, int stride_w, int dilation_w) {
    return (long)(out_w - 1) * stride_w + (long)(kernel_w - 1) * dilation_w + 1;
}

static long blocked_rows(int rows, int kernel_h, int stride_h, int dilation_h) {
    return (long)(rows - 1) * stride_h + (long)(kernel_h - 1) * dilation_h + 1;
}

long octet_depthwise16_scratch(int rows, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                               int dilation_h, int dilation_w) {
    if (rows <= 0 || out_w <= 0) return 0;
    long padded = blocked_rows(rows, kernel_h, stride_h, dilation_h) * blocked_width(out_w, kernel_w, stride_w, dilation_w);
    long results = (long)rows * out_w + 16; // the transpose back reads whole blocks of 16 positions
    return 16 * (padded + results) + 16;    // + 16: room to align the buffer to 64 bytes
}

#ifdef OCTET_X86
#define AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
// Small fixed loops over vectors fully unrolled, so that their arrays of vectors stay in
// registers (otherwise the compiler copies them through memory, even with a memcpy call).
#define UNROLLED _Pragma("clang loop unroll(full)")

// The last two steps of a 16 × 16 transpose: `t` holds the rows interleaved in pairs
// (unpacklo / unpackhi of rows 2i and 2i + 1); r[j] receives column j. Quads, then 128-bit
// lanes across four rows.
static inline __attribute__((always_inline)) AVX512 void transpose16_finish(const __m512 t[16], __m512 r[16]) {
    // u[4q + c]: rows 4q..4q+3 at columns c, c + 4, c + 8, c + 12 (one per 128-bit lane).
    __m512 u[16];
    UNROLLED for (int q = 0; q < 16; q += 4) {
        u[q] = _mm512_shuffle_ps(t[q], t[q + 2], 0x44);
        u[q + 1] = _mm512_shuffle_ps(t[q], t[q + 2], 0xEE);
        u[q + 2] = _mm512_shuffle_ps(t[q + 1], t[q + 3], 0x44);
        u[q + 3] = _mm512_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
    }
    UNROLLED for (int c = 0; c < 4; c++) {
        __m512 even0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88); // lanes 0, 2 of rows 0–7
        __m512 odd0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);  // lanes 1, 3 of rows 0–7
        __m512 even1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 odd1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(even0, even1, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(even0, even1, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(odd0, odd1, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(odd0, odd1, 0xDD);
    }
}

// r[j] = column j of the 16 × 16 block whose row i is the first `mask` lanes at
// source + i · stride (zero for rows from `rows` on). The rows are loaded straight into the
// first step (a loop copying them into an array first became a memcpy call).
static inline __attribute__((always_inline)) AVX512 void transpose16_load(
    const float *source, long stride, int rows, __mmask16 mask, __m512 r[16]) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 t[16];
    UNROLLED for (int i = 0; i < 16; i += 2) {
        __m512 first = i < rows ? _mm512_maskz_loadu_ps(mask, source + i * stride) : zero;
        __m512 second = i + 1 < rows ? _mm512_maskz_loadu_ps(mask, source + (i + 1) * stride) : zero;
        t[i] = _mm512_unpacklo_ps(first, second);
        t[i + 1] = _mm512_unpackhi_ps(first, second);
    }
    transpose16_finish(t, r);
}

static inline __mmask16 first_lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

// Fills the blocked buffer (padded_rows rows of bw columns of 16 floats) for input rows from
// ih_first: column j of row r holds input (ih_first + r, j − pad_left) of the first `channels`
// planes, zero outside the image. The image rows inside the strip are consecutive in every
// plane, so they are transposed 16 plane positions at a time whatever the plane's width.
static inline __attribute__((always_inline)) AVX512 void fill_blocked(
    const float *image, long channel_stride, int channels, int height, int width, int ih_first, int pad_left,
    float *padded, long padded_rows, long bw) {
    const __m512 zero = _mm512_setzero_ps();
    long first = pad_left > 0 ? pad_left : 0; // first column holding image data
    long source = first - pad_left;           // its image column
    long last = (long)pad_left + width;       // one past the last column holding image data
    if (last > bw) last = bw;
    long row_lo = -ih_first > 0 ? -ih_first : 0;                       // first buffer row inside the image
    long row_hi = height - ih_first < padded_rows ? height - ih_first : padded_rows;
    if (last <= first || row_hi <= row_lo) {
        for (long j = 0; j < padded_rows * bw; j++) _mm512_store_ps(padded + j * 16, zero);
        return;
    }
    for (long r = 0; r < padded_rows; r++) {
        float *line = padded + r * bw * 16;
        if (r < row_lo || r >= row_hi) {
            for (long j = 0; j < bw; j++) _mm512_store_ps(line + j * 16, zero);
            continue;
        }
        for (long j = 0; j < first; j++) _mm512_store_ps(line + j * 16, zero);
        for (long j = last; j < bw; j++) _mm512_store_ps(line + j * 16, zero);
    }
    if (width >= 16) {
        // Wide rows: 16 columns of one row at a time, stored to consecutive blocks of the line.
        const long columns = last - first; // image columns source ..< source + columns
        for (long r = row_lo; r < row_hi; r++) {
            const float *row = image + (ih_first + r) * (long)width + source;
            float *line = padded + (r * bw + first) * 16;
            long c = 0;
            for (; c + 16 <= columns; c += 16) {
                __m512 block[16];
                transpose16_load(row + c, channel_stride, channels, (__mmask16)0xFFFF, block);
                UNROLLED for (int i = 0; i < 16; i++) _mm512_store_ps(line + (c + i) * 16, block[i]);
            }
            if (c < columns) {
                const long count = columns - c;
                __m512 block[16];
                transpose16_load(row + c, channel_stride, channels, first_lanes(count), block);
                UNROLLED for (int i = 0; i < 16; i++) {
                    if (i < count) _mm512_store_ps(line + (c + i) * 16, block[i]);
                }
            }
        }
        return;
    }
    // Narrow planes: positions of rows [row_lo, row_hi), 16 at a time across row ends; a position
    // past column `last` (a negative right pad cropping the image) is skipped.
    const float *plane = image + (ih_first + row_lo) * (long)width;
    const long total = (row_hi - row_lo) * (long)width;
    long r = row_lo, iw = 0;
    for (long p = 0; p < total; p += 16) {
        long count = total - p < 16 ? total - p : 16;
        __mmask16 mask = first_lanes(count);
        __m512 block[16];
        transpose16_load(plane + p, channel_stride, channels, mask, block);
        UNROLLED for (int i = 0; i < 16; i++) {
            if (i < count) {
                long j = iw - source + first;
                if (iw >= source && j < last) _mm512_store_ps(padded + (r * bw + j) * 16, block[i]);
                if (++iw == width) { iw = 0; r++; }
            }
        }
    }
}

// `count` (1 or 8, a constant after inlining) outputs, output i reading its taps from
// source[i] onwards: each starts from the bias and adds every tap, one FMA of 16 channels per tap
// and output; the sums go to result[i · 16].
static inline __attribute__((always_inline)) AVX512 void outputs(
    int count, const float *const *source, long bw, const float *kernel, int kernel_h, int kernel_w,
    int dilation_h, int dilation_w, __m512 bias, float *result) {
    __m512 acc[8];
    for (int i = 0; i < count; i++) acc[i] = bias;
    for (int ki = 0; ki < kernel_h; ki++) {
        const long row = (long)ki * dilation_h * bw * 16;
        for (int kj = 0; kj < kernel_w; kj++) {
            const __m512 w = _mm512_loadu_ps(kernel + (ki * kernel_w + kj) * 16);
            const long tap = row + (long)kj * dilation_w * 16;
            for (int i = 0; i < count; i++) acc[i] = _mm512_fmadd_ps(w, _mm512_load_ps(source[i] + tap), acc[i]);
        }
    }
    for (int i = 0; i < count; i++) _mm512_store_ps(result + i * 16, acc[i]);
}

// Every output position of a strip (`rows` output rows of `out_w`), in order, into `results`.
static inline __attribute__((always_inline)) AVX512 void strip_outputs(
    const float *padded, long bw, int rows, int out_w, int stride_h, int stride_w, const float *kernel, int kernel_h,
    int kernel_w, int dilation_h, int dilation_w, __m512 bias_vector, float *results) {
    const long positions = (long)rows * out_w;
    long oh = 0, ow = 0;
    long p = 0;
    for (; p + 8 <= positions; p += 8) {
        const float *source[8];
        for (int i = 0; i < 8; i++) {
            source[i] = padded + (oh * stride_h * bw + ow * stride_w) * 16;
            if (++ow == out_w) { ow = 0; oh++; }
        }
        outputs(8, source, bw, kernel, kernel_h, kernel_w, dilation_h, dilation_w, bias_vector, results + p * 16);
    }
    for (; p < positions; p++) {
        const float *source[1] = {padded + (oh * stride_h * bw + ow * stride_w) * 16};
        if (++ow == out_w) { ow = 0; oh++; }
        outputs(1, source, bw, kernel, kernel_h, kernel_w, dilation_h, dilation_w, bias_vector, results + p * 16);
    }
}

static AVX512 void depthwise16_avx512(const float *image, long image_channel_stride, int channels, int height, int width,
                                      const float *kernel, const float *bias, int kernel_h, int kernel_w,
                                      int stride_h, int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left,
                                      float *out, long out_channel_stride, int out_w, int row_first, int rows,
                                      int activation, float alpha, float beta, float *scratch) {
    float *padded = (float *)(((unsigned long)scratch + 63) & ~63UL);
    const long bw = blocked_width(out_w, kernel_w, stride_w, dilation_w);
    const long padded_rows = blocked_rows(rows, kernel_h, stride_h, dilation_h);
    float *results = padded + padded_rows * bw * 16;
    fill_blocked(image, image_channel_stride, channels, height, width, row_first * stride_h - pad_top, pad_left,
                 padded, padded_rows, bw);
    // Output positions of the strip in order, eight at a time across row ends; 3 × 3 and 5 × 5
    // kernels (dilation 1) with the kernel size a constant, so that the taps unroll and their
    // weights stay in registers.
    const __m512 bias_vector = _mm512_loadu_ps(bias);
    if (kernel_h == 3 && kernel_w == 3 && dilation_h == 1 && dilation_w == 1) {
        strip_outputs(padded, bw, rows, out_w, stride_h, stride_w, kernel, 3, 3, 1, 1, bias_vector, results);
    } else if (kernel_h == 5 && kernel_w == 5 && dilation_h == 1 && dilation_w == 1) {
        strip_outputs(padded, bw, rows, out_w, stride_h, stride_w, kernel, 5, 5, 1, 1, bias_vector, results);
    } else {
        strip_outputs(padded, bw, rows, out_w, stride_h, stride_w, kernel, kernel_h, kernel_w, dilation_h, dilation_w, bias_vector, results);
    }
    const long positions = (long)rows * out_w;
    // Back to planes (the activation applied to each block of 16 positions just before, while
    // it is in L1): the strip's positions are consecutive in every output plane.
    float *target = out + (long)row_first * out_w;
    for (long p = 0; p < positions; p += 16) {
        if (activation >= 0) {
            const long count = positions - p < 16 ? positions - p : 16;
            octet_unary_f32(activation, results + p * 16, results + p * 16, count * 16, alpha, beta);
        }
        __m512 block[16];
        transpose16_load(results + p * 16, 16, 16, (__mmask16)0xFFFF, block);
        __mmask16 mask = first_lanes(positions - p);
        UNROLLED for (int c = 0; c < 16; c++) {
            if (c < channels) _mm512_mask_storeu_ps(target + c * out_channel_stride + p, mask, block[c]);
        }
    }
}
#endif

int octet_depthwise16(const float *image, long image_channel_stride, int channels, int height, int width,
                      const float *kernel, const float *bias, int kernel_h, int kernel_w,
                      int stride_h, int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left,
                      float *out, long out_channel_stride, int out_w, int row_first, int rows,
                      int activation, float alpha, float beta, float *scratch) {
#ifdef OCTET_X86
    if (octet_kernels_level() >= 2) {
        if (rows > 0 && out_w > 0 && channels > 0) {
            depthwise16_avx512(image, image_channel_stride, channels > 16 ? 16 : channels, height, width, kernel, bias,
                               kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
                               out, out_channel_stride, out_w, row_first, rows, activation, alpha, beta, scratch);
        }
        return 1;
    }
#endif
    (void)image; (void)image_channel_stride; (void)channels; (void)height; (void)width; (void)kernel; (void)bias;
    (void)kernel_h; (void)kernel_w; (void)stride_h; (void)stride_w; (void)dilation_h; (void)dilation_w;
    (void)pad_top; (void)pad_left; (void)out; (void)out_channel_stride; (void)out_w; (void)row_first; (void)rows;
    (void)activation; (void)alpha; (void)beta; (void)scratch;
    return 0;
}
