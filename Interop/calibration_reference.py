"""SPEC §4's range algorithms written directly in NumPy (candidate by candidate, as
pytorch-quantization describes them), on the histogram Octet documents: 2,048 bins of width
2^e with e the smallest exponent such that max|x| < 2048 · 2^e."""
import math

import numpy as np

BINS = 2048
LEVELS = 128


def histogram(values):
    """(counts, width) of |x| over the finite values; width None when all are 0."""
    a = np.abs(values[np.isfinite(values)].astype(np.float64))
    if a.size == 0 or a.max() == 0:
        return np.array([a.size] + [0] * (BINS - 1), np.int64), None
    width = 2.0 ** (math.frexp(float(a.max()))[1] - 11)
    index = np.minimum(np.floor(a / width).astype(np.int64), BINS - 1)
    return np.bincount(index, minlength=BINS).astype(np.int64), width


def entropy_scores(counts):
    """KL(P‖Q) for each candidate i = 128 … len(counts), candidate by candidate."""
    bins = counts.astype(np.float64).copy()
    bins[0] = bins[1]
    scores = []
    for i in range(LEVELS, len(bins) + 1):
        p = bins[:i].copy()
        p[i - 1] += bins[i:].sum()
        level = (LEVELS * np.arange(i)) // i
        nonzero = bins[:i] != 0
        sums = np.bincount(level, weights=bins[:i], minlength=LEVELS)
        used = np.bincount(level, weights=nonzero.astype(np.float64), minlength=LEVELS)
        q = np.where(nonzero, sums[level] / np.maximum(used[level], 1), 0.0)
        if q.sum() == 0:
            scores.append(np.inf)
            continue
        p, q = p / p.sum(), q / q.sum()
        if np.any((q == 0) & (p > 0)):
            scores.append(np.inf)
        else:
            m = p > 0
            scores.append(float(np.sum(p[m] * np.log(p[m] / q[m]))))
    return np.array(scores)


def entropy(counts, width):
    """The last minimum of the KL curve (ties within 1e-9 relative); amax = i · width."""
    scores = entropy_scores(counts)
    lowest = scores.min()
    # Exact ties in theory (identical P and Q) may differ in the last bits: within 1e-9 is a tie.
    limit = lowest + 1e-9 * max(abs(lowest), 1e-12) if np.isfinite(lowest) else np.inf
    best = int(np.nonzero(scores <= limit)[0][-1])
    return (best + LEVELS) * width


def percentile(counts, width, percent):
    cdf = np.cumsum(counts) / counts.sum()
    return int(np.argmax(cdf >= percent / 100)) * width


def mse_scores(counts, width):
    """Mean squared fake-quantization error for each candidate centre i = 128 … len(counts) − 1."""
    centers = (np.arange(len(counts)) + 0.5) * width
    scores = []
    for i in range(LEVELS, len(counts)):
        amax = centers[i]
        fq = np.clip(np.round(centers * 127 / amax), -127, 127) * amax / 127
        scores.append(float(np.mean((fq - centers) ** 2 * counts)))
    return np.array(scores)


def mse(counts, width):
    """The first minimum; the result is a bin centre."""
    return (int(np.argmin(mse_scores(counts, width))) + LEVELS + 0.5) * width


def amax(method, values, percent=99.99):
    """The amax `method` picks for the values of one tensor, with the bin width."""
    counts, width = histogram(values)
    if width is None:
        return 0.0, 0.0
    if method == "minmax":
        return float(np.abs(values[np.isfinite(values)]).max()), width
    return from_counts(method, counts, width, percent), width


def from_counts(method, counts, width, percent=99.99):
    """The amax `method` picks from a histogram."""
    if method == "entropy":
        return entropy(counts, width)
    if method == "percentile":
        return percentile(counts, width, percent)
    return mse(counts, width)
