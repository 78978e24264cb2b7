// Statistics kernels for calibration: vectorized scan, |x| binning and the MSE range search.
// AVX2 paths are chosen at run time; the portable paths give identical results (scan and
// binning are exact: comparisons, power-of-two scaling, integer counts; MSE sums in a fixed
// lane order).
#include "octet_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define OCTET_X86 1
#endif

static int stats_use_avx2(void) { return !octet_stats_portable() && octet_kernels_use_avx2(); }

static void scan_portable(const float *x, long n, octet_scan_result *out) {
    float lo = INFINITY, hi = -INFINITY, absmax = 0;
    long long bad = 0;
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float a = fabsf(v);
        if (!(a < INFINITY)) { bad++; continue; }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (a > absmax) absmax = a;
    }
    out->min = lo; out->max = hi; out->absmax = absmax; out->nonfinite = bad;
}

#ifdef OCTET_X86
// Running extremes over eight lanes, shared by the scan and the one-pass scan-and-bin.
typedef struct {
    __m256 lo, hi, amax;
    long long bad;
} scan_lanes;

__attribute__((target("avx2")))
static inline scan_lanes scan_lanes_start(void) {
    scan_lanes lanes = {_mm256_set1_ps(INFINITY), _mm256_set1_ps(-INFINITY), _mm256_setzero_ps(), 0};
    return lanes;
}

/// Adds eight values; returns their |x| and sets `finite` to the lanes that are finite.
__attribute__((target("avx2")))
static inline __m256 scan_lanes_add(scan_lanes *lanes, __m256 v, __m256 *finite) {
    const __m256 inf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    *finite = _mm256_cmp_ps(a, inf, _CMP_LT_OQ);
    lanes->bad += 8 - __builtin_popcount(_mm256_movemask_ps(*finite));
    lanes->amax = _mm256_max_ps(lanes->amax, _mm256_and_ps(a, *finite));
    lanes->lo = _mm256_min_ps(lanes->lo, _mm256_blendv_ps(inf, v, *finite));
    lanes->hi = _mm256_max_ps(lanes->hi, _mm256_blendv_ps(ninf, v, *finite));
    return a;
}

/// Scans the `n` values left after the lanes and folds everything into `out`.
__attribute__((target("avx2")))
static void scan_lanes_finish(const scan_lanes *lanes, const float *rest, long n, octet_scan_result *out) {
    float l[8], h[8], m[8];
    _mm256_storeu_ps(l, lanes->lo); _mm256_storeu_ps(h, lanes->hi); _mm256_storeu_ps(m, lanes->amax);
    scan_portable(rest, n, out);
    for (int k = 0; k < 8; k++) {
        if (l[k] < out->min) out->min = l[k];
        if (h[k] > out->max) out->max = h[k];
        if (m[k] > out->absmax) out->absmax = m[k];
    }
    out->nonfinite += lanes->bad;
}

__attribute__((target("avx2")))
static void scan_avx2(const float *x, long n, octet_scan_result *out) {
    scan_lanes lanes = scan_lanes_start();
    long i = 0;
    __m256 finite;
    for (; i + 8 <= n; i += 8) scan_lanes_add(&lanes, _mm256_loadu_ps(x + i), &finite);
    scan_lanes_finish(&lanes, x + i, n - i, out);
}
#endif

void octet_scan(const float *x, long n, octet_scan_result *out) {
#ifdef OCTET_X86
    if (stats_use_avx2()) { scan_avx2(x, n, out); return; }
#endif
    scan_portable(x, n, out);
}

// Few values: straight into the counts. Returns 1 when a finite value is past the last bin
// (`clamp` 0; it is then left out) — with `clamp` 1 such values go to the last bin.
static int histogram_direct(const float *x, long n, float s1, float s2, int bins, long long *counts, int clamp) {
    const float last = (float)(bins - 1);
    int overflow = 0;
    for (long i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a < INFINITY)) continue;
        float t = a * s1 * s2;
        if (t > last) {
            if (t >= (float)bins) overflow = 1;
            if (!clamp && t >= (float)bins) continue;
            t = last;
        }
        counts[(int)t]++;
    }
    return overflow;
}

// Four interleaved sub-histograms keep repeated bins (the zeros after ReLU) from serializing
// on one counter.
static void histogram_portable(const float *x, long n, float s1, float s2, int bins, long long *counts) {
    unsigned int sub[4][OCTET_HISTOGRAM_MAX_BINS];
    for (int r = 0; r < 4; r++) memset(sub[r], 0, sizeof(unsigned int) * (size_t)bins);
    const float last = (float)(bins - 1);
    for (long i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a < INFINITY)) continue;
        float t = a * s1 * s2;
        if (t > last) t = last;
        sub[i & 3][(int)t]++;
    }
    for (int b = 0; b < bins; b++) counts[b] += (long long)sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
}

#ifdef OCTET_X86
__attribute__((target("avx2")))
static void histogram_avx2(const float *x, long n, float s1, float s2, int bins, long long *counts) {
    unsigned int sub[4][OCTET_HISTOGRAM_MAX_BINS + 1];  // the extra bin takes non-finite values
    for (int r = 0; r < 4; r++) memset(sub[r], 0, sizeof(unsigned int) * (size_t)(bins + 1));
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    const __m256 vs1 = _mm256_set1_ps(s1), vs2 = _mm256_set1_ps(s2), last = _mm256_set1_ps((float)(bins - 1));
    const __m256i skip = _mm256_set1_epi32(bins);
    long i = 0;
    int index[8];
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
        __m256 finite = _mm256_cmp_ps(a, inf, _CMP_LT_OQ);
        __m256 t = _mm256_min_ps(_mm256_mul_ps(_mm256_mul_ps(a, vs1), vs2), last);
        __m256i k = _mm256_cvttps_epi32(_mm256_and_ps(t, finite));
        k = _mm256_blendv_epi8(skip, k, _mm256_castps_si256(finite));
        _mm256_storeu_si256((__m256i *)index, k);
        sub[0][index[0]]++; sub[1][index[1]]++; sub[2][index[2]]++; sub[3][index[3]]++;
        sub[0][index[4]]++; sub[1][index[5]]++; sub[2][index[6]]++; sub[3][index[7]]++;
    }
    for (int b = 0; b < bins; b++) counts[b] += (long long)sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
    if (i < n) histogram_direct(x + i, n - i, s1, s2, bins, counts, 1);
}
#endif

void octet_abs_histogram(const float *x, long n, float s1, float s2, int bins, long long *counts) {
    if (bins < 1 || bins > OCTET_HISTOGRAM_MAX_BINS) return;
    if (n < 1024) {
        histogram_direct(x, n, s1, s2, bins, counts, 1);  // too few values to repay clearing sub-histograms
        return;
    }
    // Sub-counters are 32-bit: split longer arrays.
    const long step = 1L << 30;
    for (long start = 0; start < n; start += step) {
        long count = n - start < step ? n - start : step;
#ifdef OCTET_X86
        if (stats_use_avx2()) { histogram_avx2(x + start, count, s1, s2, bins, counts); continue; }
#endif
        histogram_portable(x + start, count, s1, s2, bins, counts);
    }
}

// One pass that scans and bins: for tensors whose range the bins already cover (every sample
// after the first few), this halves the memory traffic of observing them.
static int scan_histogram_portable(const float *x, long n, float s1, float s2, int bins, long long *counts,
                                   octet_scan_result *out) {
    scan_portable(x, n, out);
    return histogram_direct(x, n, s1, s2, bins, counts, 0);
}

#ifdef OCTET_X86
__attribute__((target("avx2")))
static int scan_histogram_avx2(const float *x, long n, float s1, float s2, int bins, long long *counts,
                               octet_scan_result *out) {
    unsigned int sub[4][OCTET_HISTOGRAM_MAX_BINS + 1];  // the extra bin takes non-finite values
    for (int r = 0; r < 4; r++) memset(sub[r], 0, sizeof(unsigned int) * (size_t)(bins + 1));
    const __m256 vs1 = _mm256_set1_ps(s1), vs2 = _mm256_set1_ps(s2), limit = _mm256_set1_ps((float)bins);
    const __m256 last = _mm256_set1_ps((float)(bins - 1));
    const __m256i skip = _mm256_set1_epi32(bins);
    scan_lanes lanes = scan_lanes_start();
    __m256 over = _mm256_setzero_ps();
    long i = 0;
    int index[8];
    for (; i + 8 <= n; i += 8) {
        __m256 finite;
        __m256 a = scan_lanes_add(&lanes, _mm256_loadu_ps(x + i), &finite);
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(a, vs1), vs2);
        over = _mm256_or_ps(over, _mm256_and_ps(finite, _mm256_cmp_ps(t, limit, _CMP_GE_OQ)));
        __m256i k = _mm256_cvttps_epi32(_mm256_and_ps(_mm256_min_ps(t, last), finite));
        k = _mm256_blendv_epi8(skip, k, _mm256_castps_si256(finite));
        _mm256_storeu_si256((__m256i *)index, k);
        sub[0][index[0]]++; sub[1][index[1]]++; sub[2][index[2]]++; sub[3][index[3]]++;
        sub[0][index[4]]++; sub[1][index[5]]++; sub[2][index[6]]++; sub[3][index[7]]++;
    }
    scan_lanes_finish(&lanes, x + i, n - i, out);
    int overflow = _mm256_movemask_ps(over) != 0;
    overflow |= histogram_direct(x + i, n - i, s1, s2, bins, counts, 0);
    if (overflow) return 1;  // the tail's counts may be in; the caller discards them all
    for (int b = 0; b < bins; b++) counts[b] += (long long)sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
    return 0;
}
#endif

int octet_scan_abs_histogram(const float *x, long n, float s1, float s2, int bins, long long *counts,
                             octet_scan_result *out) {
    if (bins < 1 || bins > OCTET_HISTOGRAM_MAX_BINS || n > (1L << 30)) {
        octet_scan(x, n, out);
        return 1;
    }
#ifdef OCTET_X86
    if (stats_use_avx2()) return scan_histogram_avx2(x, n, s1, s2, bins, counts, out);
#endif
    return scan_histogram_portable(x, n, s1, s2, bins, counts, out);
}

// MSE range search: for each candidate amax = centers[i], the squared error of narrow-range
// fake quantization of every occupied bin centre (in float32, as the values would be), weighted
// by its count and summed in double over eight lanes (lane j mod 8), so the vector and
// portable paths add in the same order.
static double mse_score_portable(const float *c, const double *w, long m, float amax) {
    const float scale = 127.0f / amax;
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (long j = 0; j < m; j++) {
        float q = nearbyintf(c[j] * scale);
        q = q < -127.0f ? -127.0f : (q > 127.0f ? 127.0f : q);
        float e = q / scale - c[j];
        lanes[j & 7] += (double)(e * e) * w[j];
    }
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

#ifdef OCTET_X86
__attribute__((target("avx2")))
static double mse_score_avx2(const float *c, const double *w, long m, float amax) {
    const float scale = 127.0f / amax;
    const __m256 vscale = _mm256_set1_ps(scale), low = _mm256_set1_ps(-127.0f), high = _mm256_set1_ps(127.0f);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    long j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256 v = _mm256_loadu_ps(c + j);
        __m256 q = _mm256_round_ps(_mm256_mul_ps(v, vscale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_min_ps(_mm256_max_ps(q, low), high);
        __m256 e = _mm256_sub_ps(_mm256_div_ps(q, vscale), v);
        __m256 e2 = _mm256_mul_ps(e, e);
        acc0 = _mm256_add_pd(acc0, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e2)), _mm256_loadu_pd(w + j)));
        acc1 = _mm256_add_pd(acc1, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(e2, 1)), _mm256_loadu_pd(w + j + 4)));
    }
    double lanes[8];
    _mm256_storeu_pd(lanes, acc0);
    _mm256_storeu_pd(lanes + 4, acc1);
    for (; j < m; j++) {
        float q = nearbyintf(c[j] * scale);
        q = q < -127.0f ? -127.0f : (q > 127.0f ? 127.0f : q);
        float e = q / scale - c[j];
        lanes[j & 7] += (double)(e * e) * w[j];
    }
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
#endif

void octet_mse_scores(const float *centers, const double *weights, long m, const float *candidates, long count, double *scores) {
    for (long i = 0; i < count; i++) {
#ifdef OCTET_X86
        if (stats_use_avx2()) { scores[i] = mse_score_avx2(centers, weights, m, candidates[i]); continue; }
#endif
        scores[i] = mse_score_portable(centers, weights, m, candidates[i]);
    }
}
