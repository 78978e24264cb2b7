// SHA-256 for model and data fingerprints (SHA-NI when the CPU has it) and the ZIP CRC-32
// that checks .npz members read in place.
#include "octet_kernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define OCTET_X86 1
#endif

// SHA-256 (FIPS 180-4).
static const unsigned int sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(unsigned int *h, const unsigned char *p) {
    unsigned int w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (unsigned int)p[4 * t] << 24 | (unsigned int)p[4 * t + 1] << 16 | (unsigned int)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        unsigned int s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        unsigned int s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    unsigned int a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        unsigned int t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[t] + w[t];
        unsigned int t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

#ifdef OCTET_X86
// The SHA extensions (SHA-NI) keep the state as ABEF / CDGH and run two rounds per instruction.
__attribute__((target("sha,sse4.1")))
static void sha256_blocks_shani(unsigned int *h, const unsigned char *p, long blocks) {
    const __m128i order = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);  // CDAB
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); // EFGH
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                         // ABEF
    s1 = _mm_blend_epi16(s1, t, 0xF0);                                              // CDGH
    for (; blocks > 0; blocks--, p += 64) {
        const __m128i save0 = s0, save1 = s1;
        __m128i w[4];
        for (int g = 0; g < 16; g++) {
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), order);
            } else {
                __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
            }
            __m128i m = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&sha_k[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);      // FEBA
    s1 = _mm_shuffle_epi32(s1, 0xB1);     // DCHG
    s0 = _mm_blend_epi16(t, s1, 0xF0);    // DCBA
    s1 = _mm_alignr_epi8(s1, t, 8);       // HGFE
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}
#endif

static int use_shani = -1;

static void sha256_blocks(unsigned int *h, const unsigned char *p, long blocks) {
#ifdef OCTET_X86
    if (use_shani < 0) {
        __builtin_cpu_init();
        use_shani = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
    }
    if (use_shani && !octet_stats_portable()) { sha256_blocks_shani(h, p, blocks); return; }
#endif
    for (; blocks > 0; blocks--, p += 64) sha256_block(h, p);
}

void octet_sha256_init(octet_sha256 *s) {
    static const unsigned int start[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, start, sizeof(start));
    s->length = 0;
    s->used = 0;
}

void octet_sha256_update(octet_sha256 *s, const void *data, long n) {
    const unsigned char *p = (const unsigned char *)data;
    s->length += (unsigned long long)n;
    if (s->used > 0) {
        long take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->buffer + s->used, p, (size_t)take);
        s->used += (int)take; p += take; n -= take;
        if (s->used < 64) return;
        sha256_blocks(s->h, s->buffer, 1);
        s->used = 0;
    }
    long blocks = n / 64;
    sha256_blocks(s->h, p, blocks);
    p += 64 * blocks;
    n -= 64 * blocks;
    memcpy(s->buffer, p, (size_t)n);
    s->used = (int)n;
}

void octet_sha256_final(octet_sha256 *s, unsigned char digest[32]) {
    unsigned long long bits = s->length * 8;
    unsigned char pad[72] = {0x80};
    long padding = (s->used < 56 ? 56 : 120) - s->used;
    for (int i = 0; i < 8; i++) pad[padding + i] = (unsigned char)(bits >> (56 - 8 * i));
    unsigned long long length = s->length;
    octet_sha256_update(s, pad, padding + 8);
    s->length = length;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->h[i] >> 24); digest[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->h[i] >> 8); digest[4 * i + 3] = (unsigned char)s->h[i];
    }
}

// CRC-32 (ZIP, reflected polynomial 0xEDB88320), slicing by 8.
static unsigned int crc_table[8][256];
static int crc_ready = 0;

static void crc_init(void) {
    for (unsigned int i = 0; i < 256; i++) {
        unsigned int c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (unsigned int i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
    crc_ready = 1;
}

unsigned int octet_crc32(unsigned int crc, const void *data, long n) {
    if (!crc_ready) crc_init();
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        unsigned int low = crc ^ ((unsigned int)p[0] | (unsigned int)p[1] << 8 | (unsigned int)p[2] << 16 | (unsigned int)p[3] << 24);
        unsigned int high = (unsigned int)p[4] | (unsigned int)p[5] << 8 | (unsigned int)p[6] << 16 | (unsigned int)p[7] << 24;
        crc = crc_table[7][low & 0xFF] ^ crc_table[6][(low >> 8) & 0xFF] ^ crc_table[5][(low >> 16) & 0xFF] ^ crc_table[4][low >> 24] ^
              crc_table[3][high & 0xFF] ^ crc_table[2][(high >> 8) & 0xFF] ^ crc_table[1][(high >> 16) & 0xFF] ^ crc_table[0][high >> 24];
    }
    for (; n > 0; n--, p++) crc = crc_table[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
