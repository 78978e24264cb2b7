// Micro-kernels Swift cannot vectorize well without target flags (it emits SSE2 only on
// x86-64). Each entry point picks an AVX-512 or AVX2/FMA implementation at run time when the
// CPU has it, and a portable one otherwise (other x86-64 CPUs, arm64).
#ifndef OCTET_KERNELS_H
#define OCTET_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Rows of an AVX2/portable register tile (MR) and columns of a packed B panel (NR).
enum { OCTET_GEMM_MR = 6, OCTET_GEMM_NR = 16 };

/// Rows of a packed A micro-panel (`octet_pack_rows`).
enum { OCTET_GEMM_PACKED_ROWS = 12 };

/// Packs rows [0, rows) of A (row stride lda, k columns) into a micro-panel: packed[p · 12 + r]
/// = a[r · lda + p], zero for r ≥ rows (rows ≤ 12).
void octet_pack_rows(int rows, int k, const float *a, long lda, float *packed);

/// C[rows × 16·count] (+)= A · B for a packed A micro-panel (`octet_pack_rows`, rows ≤ 12) over
/// `count` panels of 16 columns, panel i of B at `b + i · panel_step` (k · 16 for packed panels,
/// 16 for rows `ldb` apart) writing C's columns 16·i…, the last panel `last_width` wide.
/// `row_bias` (when not NULL) starts row r's sums from row_bias[r] (a convolution's bias, added
/// in the same pass); `relu` clamps the stored values below at 0 (a fused Relu; NaN stays NaN).
/// AVX-512 runs 12 rows × 16 columns per tile, adjacent full panels in pairs (12 × 32) with the
/// same sums; other CPUs two tiles of 6 rows (AVX2/FMA or portable C). `addend` (when not NULL,
/// laid out as C from its first column) is added to the sums before the Relu (a convolution's
/// fused residual; not together with `accumulate`).
void octet_sgemm_panels(int rows, int k, const float *a, const float *b, long ldb, long panel_step, int count, float *c,
                        long ldc, int last_width, int accumulate, const float *addend, const float *row_bias, int relu);

/// One tile as in `octet_sgemm_panels` (a single panel), for rows ≤ 12 of an unpacked A (row
/// stride lda), B's rows `ldb` floats apart, C's first `width` columns.
void octet_sgemm_tile_rows(int rows, int k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                           int width, int accumulate, const float *row_bias, int relu);

/// One row of A (k floats) times `count` packed 16-column panels of B (`panel_step` floats
/// apart, each k × 16): C's first 16 · (count − 1) + last_width columns, plus C's own values
/// with `accumulate`. The same sums in the same order as a one-row `octet_sgemm_tile_rows` per
/// panel, with several panels' accumulators in flight (one panel's chain waits on each FMA).
void octet_sgemm_row_panels(int k, const float *a, const float *b, long panel_step, int count, float *c, int last_width,
                            int accumulate);

/// y[r] (r < rows ≤ 12) = row_bias[r] (or 0) + Σ_p A[r][p] · x[p · incx] for a packed micro-panel
/// (a matrix-vector product), clamped below at 0 with `relu`.
void octet_sgemv_packed(int rows, int k, const float *a, const float *x, long incx, float *y, const float *row_bias, int relu);

/// With AVX-512: C[rows × width] = bias + A · B (plus C's own values when `accumulate`; then
/// Relu when asked) for a packed micro-panel A (rows ≤ 12) and B row p gathered from
/// `segment_count` ≤ 4 runs of lanes: lane j of run s is b[starts[s] + j + offsets[p]] for the
/// lanes set in masks[s] (an implicit-GEMM convolution over a padded image, 16 output positions
/// spanning the ends of output rows); returns 1. Returns 0, doing nothing, on CPUs without
/// AVX-512.
int octet_sgemm_tile_segments(int rows, int k, const float *a, const float *b, int segment_count, const long *starts,
                              const unsigned short *masks, const long *offsets, float *c, long ldc, int width,
                              int accumulate, const float *row_bias, int relu);

/// y[p][i][j] = x[p][i · stride_h][j · stride_w] for `planes` planes of height × width (the
/// input positions of a strided 1×1 convolution without padding).
void octet_subsample_planes(const float *x, long planes, int height, int width, int stride_h, int stride_w,
                            int out_h, int out_w, float *y);

/// The zero-padded image of a strided convolution split into stride_h × stride_w phase planes of
/// phase_h × phase_w: out[((c·stride_h + a)·stride_w + b)·phase_h·phase_w + r·phase_w + j] is
/// image[c][r·stride_h + a − pad_top][j·stride_w + b − pad_left], 0 outside the image. A tap of
/// a stride-s convolution is then a stride-1 read of one phase plane (stride 1: one padded plane
/// per channel).
void octet_phase_planes(const float *image, int channels, int height, int width, int pad_top, int pad_left,
                        int stride_h, int stride_w, int phase_h, int phase_w, float *out);

/// Packs `columns` columns of B (k rows, row stride ldb) into ⌈columns / 16⌉ consecutive panels
/// of k × 16 (the last zero-padded), B read row by row: each of its k rows is one sequential
/// read, where panel by panel every row is a separate stream (and, for large images, a page).
void octet_pack_panels(int k, const float *b, long ldb, long columns, float *panels);

/// im2col for a 2-D convolution as rows: for channels [channel_first, channel_last), kernel rows
/// and columns, row r = (c·kh + ki)·kw + kj of `columns` (row stride ldb ≥ count) holds the
/// input value each of the `count` output positions first, first + 1, … sees (0 in the padding);
/// columns count … ldb − 1 are zeroed.
void octet_im2col_rows_2d(const float *image, int channels, int height, int width,
                          int kernel_h, int kernel_w, int stride_h, int stride_w,
                          int dilation_h, int dilation_w, int pad_top, int pad_left,
                          int out_h, int out_w, long first, int count, int channel_first, int channel_last,
                          long ldb, float *columns);

/// The adjoint of im2col (a 2-D ConvTranspose's scatter): for each channel c < channels, kernel
/// tap (ki, kj) and input position (ih, iw), adds columns[((c·kh + ki)·kw + kj)·H·W + ih·W + iw]
/// to out[c][ih·stride_h + ki·dilation_h − pad_top][iw·stride_w + kj·dilation_w − pad_left]
/// when that lies inside the out_h × out_w plane.
void octet_col2im_add_2d(const float *columns, int channels, int height, int width, int kernel_h, int kernel_w,
                         int stride_h, int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left,
                         float *out, int out_h, int out_w);

/// Floats of scratch `octet_depthwise_plane` needs for this geometry (a zero-padded copy of the
/// plane, wide enough for whole blocks of 16 outputs).
long octet_depthwise_scratch(int out_h, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                             int dilation_h, int dilation_w);

/// Depthwise 2-D convolution of one plane: out[oh][ow] = bias + Σ w[ki][kj] · in[ih][iw] over
/// the taps inside the image (padding contributes 0); `scratch` holds
/// `octet_depthwise_scratch(...)` floats and may be reused from plane to plane.
void octet_depthwise_plane(const float *image, int height, int width, const float *kernel,
                           int kernel_h, int kernel_w, int stride_h, int stride_w,
                           int dilation_h, int dilation_w, int pad_top, int pad_left,
                           float bias, float *out, int out_h, int out_w, float *scratch);

/// Floats of scratch `octet_depthwise16` needs for a strip of `rows` output rows.
long octet_depthwise16_scratch(int rows, int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w,
                               int dilation_h, int dilation_w);

/// With AVX-512: depthwise 2-D convolution of `channels` ≤ 16 planes at once, channel c's image
/// at image + c·image_channel_stride (height × width) and its output at
/// out + c·out_channel_stride (? × out_w), output rows [row_first, row_first + rows) only:
/// out[c][oh][ow] = bias[c] + Σ kernel[(ki·kernel_w + kj)·16 + c] · in[c][ih][iw] over the taps
/// inside the image, then `octet_unary_f32(activation, ..., alpha, beta)` unless activation < 0.
/// `kernel` holds kernel_h·kernel_w vectors of 16 weights, `bias` 16 floats, `scratch`
/// `octet_depthwise16_scratch(rows, ...)` floats. Returns 1; returns 0, doing nothing, on CPUs
/// without AVX-512.
int octet_depthwise16(const float *image, long image_channel_stride, int channels, int height, int width,
                      const float *kernel, const float *bias, int kernel_h, int kernel_w,
                      int stride_h, int stride_w, int dilation_h, int dilation_w, int pad_top, int pad_left,
                      float *out, long out_channel_stride, int out_w, int row_first, int rows,
                      int activation, float alpha, float beta, float *scratch);

/// 2-D max pooling of one plane: each output is the largest input in its window (NaN inputs
/// are skipped; a window entirely in the padding gives -inf). `scratch` holds
/// `octet_depthwise_scratch(...)` floats (the same padded copy, filled with -inf).
void octet_maxpool_plane(const float *image, int height, int width,
                         int kernel_h, int kernel_w, int stride_h, int stride_w,
                         int dilation_h, int dilation_w, int pad_top, int pad_left,
                         float *out, int out_h, int out_w, float *scratch);

/// Element-wise activations of `octet_unary_f32`.
enum {
    OCTET_UNARY_RELU = 0,         // x < 0 ? 0 : x (NaN stays NaN)
    OCTET_UNARY_SIGMOID = 1,      // 1 / (1 + e^-x)
    OCTET_UNARY_HARD_SIGMOID = 2, // clamp(alpha · x + beta, 0, 1)
    OCTET_UNARY_HARD_SWISH = 3,   // x · clamp(x / 6 + 1/2, 0, 1)
    OCTET_UNARY_ERF = 4,          // erf(x), absolute error < 4e-7
    OCTET_UNARY_EXP = 5,          // e^x, about 2 ulp (inputs clamped to [-87.3, 88.7])
    OCTET_UNARY_SILU = 6,         // x · sigmoid(x), rounded as Mul(x, Sigmoid(x))
    OCTET_UNARY_X_HARD_SIGMOID = 7, // x · clamp(alpha · x + beta, 0, 1), as Mul(x, HardSigmoid(x))
    OCTET_UNARY_TANH = 8,         // tanh(x), within 6 ulp (rational fit)
};

/// y[i] = op(x[i]) for i < n (y may be x).
void octet_unary_f32(int op, const float *x, float *y, long n, float alpha, float beta);

/// Softmax over `rows` contiguous rows of `n`: e^(x − max) / Σ (e^-inf is exactly 0; a row of
/// -inf only, or holding NaN, gives NaN), the sum in 16 float lanes added in double.
void octet_softmax_rows_f32(const float *x, float *y, long rows, long n);

/// y[r] = scale · Σ x[r · n + i] over i < n for each of `rows` rows (32 float lanes, added in
/// double): GlobalAveragePool with scale 1/n.
void octet_sum_rows_f32(const float *x, float *y, long rows, long n, double scale);

/// Arithmetic operators of `octet_binary_f32`.
enum { OCTET_BINARY_ADD = 0, OCTET_BINARY_SUB = 1, OCTET_BINARY_MUL = 2, OCTET_BINARY_DIV = 3, OCTET_BINARY_ADD_RELU = 4 };

/// y[i] = a[i · step_a] op b[i · step_b] for i < n, steps 0 (a broadcast scalar) or 1.
void octet_binary_f32(int op, const float *a, int step_a, const float *b, int step_b, float *y, long n);

/// `octet_binary_f32` over `rows` rows of `n` outputs (y's rows contiguous), a's row r at
/// `a + r · row_a` and b's at `b + r · row_b`: one call for a broadcast over short rows.
void octet_binary_rows_f32(int op, const float *a, long row_a, int step_a, const float *b, long row_b, int step_b,
                           float *y, long rows, long n);

/// The CPU's spin-wait hint (`pause` on x86, nothing elsewhere), for worker threads waiting for work.
void octet_cpu_pause(void);

/// The instruction set the element-wise kernels use: 0 portable, 1 AVX2 + FMA, 2 AVX-512.
int octet_kernels_level(void);

/// Forces a level on the calling thread only (tests of the portable path); -1 returns to detection.
/// The thread pool's workers take on the level of the thread whose parallel section they join.
void octet_kernels_set_level(int level);

/// The level forced on the calling thread, or -1.
int octet_kernels_forced_level(void);

/// What one pass over float32 values found: the smallest and largest finite value, the largest
/// finite |x|, and how many values were NaN or infinite.
typedef struct {
    float min, max, absmax;
    long long nonfinite;
} octet_scan_result;

/// Scans `n` floats (min and max are +inf / -inf when no value is finite).
void octet_scan(const float *x, long n, octet_scan_result *out);

/// Most bins `octet_abs_histogram` takes.
enum { OCTET_HISTOGRAM_MAX_BINS = 4096 };

/// Adds every finite x to counts[min(floor(|x| · s1 · s2), bins − 1)]. With s1 and s2 powers
/// of two the bin index is exact (two factors let the scale exceed float's range).
void octet_abs_histogram(const float *x, long n, float s1, float s2, int bins, long long *counts);

/// `octet_scan` and `octet_abs_histogram` in one pass, for bins that already cover the values:
/// returns 1 (counts then hold an unspecified partial sum, to be discarded) when a finite |x|
/// lies at or past the last bin's upper edge, else 0 with every value counted. `out` is always
/// complete.
int octet_scan_abs_histogram(const float *x, long n, float s1, float s2, int bins, long long *counts,
                             octet_scan_result *out);

/// MSE scores: scores[i] = Σ_j weights[j] · (fq(centers[j]) − centers[j])² for amax =
/// candidates[i], where fq is narrow-range [-127, 127] fake quantization in float32 (round half
/// to even) and the sum is taken in double over eight lanes in a fixed order.
void octet_mse_scores(const float *centers, const double *weights, long m, const float *candidates, long count, double *scores);

/// For tests: 1 makes the statistics and SHA-256 functions take their portable paths
/// (their results are identical), 0 lets them pick by CPU again.
void octet_stats_set_portable(int portable);

/// Whether `octet_stats_set_portable(1)` is in force.
int octet_stats_portable(void);

/// Running SHA-256 state.
typedef struct {
    unsigned int h[8];
    unsigned char buffer[64];
    unsigned long long length;
    int used;
} octet_sha256;

void octet_sha256_init(octet_sha256 *s);
void octet_sha256_update(octet_sha256 *s, const void *data, long n);
void octet_sha256_final(octet_sha256 *s, unsigned char digest[32]);

/// Continues a ZIP CRC-32 (start with 0) over `n` bytes.
unsigned int octet_crc32(unsigned int crc, const void *data, long n);

/// glibc only: blocks below `mmap_threshold` bytes come from the heap, and up to
/// `trim_threshold` bytes of free heap are kept rather than returned to the kernel.
void octet_tune_allocator(long mmap_threshold, long trim_threshold);
/// Gives the pages of free heap blocks back to the kernel (glibc's malloc_trim, which also
/// clears whole pages of free blocks inside the heap); does nothing on other C libraries.
void octet_return_free_memory(void);

/// 1 when the AVX2/FMA kernels are in use.
int octet_kernels_use_avx2(void);

#ifdef __cplusplus
}
#endif

#endif
