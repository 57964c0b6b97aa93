/* ECA's inference forward for fp32 CPU tensors in three passes: pool, gate, scale.
 *
 * Built on first use by ecabench.attention.kernels.build (cc -O3 -march=native [-fopenmp]) and
 * called through ctypes, so no Python headers, pybind11 or ninja are needed. Why it exists: at
 * cache-resident shapes (ResNet-50's layer4, 8 x 2048 x 7 x 7) ATen's separate pool, conv1d,
 * sigmoid and multiply cost ~2x the bandwidth bound in fixed per-op overheads and short vector
 * loops (docs/performance.md). Same function as the reference to fp32 rounding (<= 1e-6, tested):
 * the pool sums in a different order and the sigmoid uses Cephes' expf polynomial (~2 ulp).
 *
 * Layouts: NCHW (contiguous) and NHWC (channels_last); x, out: n * c * hw floats; w: k floats.
 * The channel convolution is a cross-correlation with zero padding `left` before, k-1-left after.
 * Returns 0, or 2 when a pooled mean is not finite (the caller then reruns the reference, whose
 * NaN/inf propagation this kernel does not reproduce: its sigmoid assumes finite logits).
 */
#include <stdint.h>
#include <stdlib.h>
#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
static int omp_threads(void) { return omp_get_num_threads(); }
static int omp_thread(void) { return omp_get_thread_num(); }
#else
static int omp_threads(void) { return 1; }
static int omp_thread(void) { return 0; }
#endif

#ifndef SUM16_MAX_HW
#define SUM16_MAX_HW 128 /* NCHW rows shorter than this are pooled 16 at a time (sum16_rows) */
#endif

#define ECA_OK 0
#define ECA_NONFINITE 2
#define ECA_NOMEM 3
#ifndef BLOCK
#define BLOCK 256 /* channels per NHWC register block: 16 of AVX-512's 32 vector registers */
#endif

int ecabench_kernel_abi(void) { return 1; }

/* Per calling thread, grown on demand and kept (n * (2c + k - 1) floats: gates and padded means of
 * the largest call so far): no allocation per call. */
static float *scratch(size_t count) {
    static __thread float *buf = NULL;
    static __thread size_t cap = 0;
    if (count > cap) {
        float *grown = (float *)realloc(buf, count * sizeof(float));
        if (!grown) return NULL;
        buf = grown;
        cap = count;
    }
    return buf;
}

/* Vectorisable sigmoid (Cephes expf): the clamps need finite-math semantics to become min/max. */
__attribute__((optimize("no-trapping-math", "no-signed-zeros", "finite-math-only")))
static void sigmoid_inplace(float *restrict g, int64_t c) {
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) {
        float x = -g[j];
        x = x < 88.0f ? x : 88.0f;
        x = x > -88.0f ? x : -88.0f;
        float v = x * 1.44269504088896341f + 0.5f;
        int32_t iv = (int32_t)v;
        iv = v < (float)iv ? iv - 1 : iv; /* floor */
        float fx = (float)iv;
        float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
        float y = 1.9875691500E-4f;
        y = y * r + 1.3981999507E-3f;
        y = y * r + 8.3334519073E-3f;
        y = y * r + 4.1665795894E-2f;
        y = y * r + 1.6666665459E-1f;
        y = y * r + 5.0000001201E-1f;
        y = y * r * r + r + 1.0f;
        union { int32_t i; float f; } p2;
        p2.i = (iv + 127) << 23;
        g[j] = 1.0f / (1.0f + y * p2.f);
    }
}

static int all_finite(const float *restrict v, int64_t c) {
    int bad = 0;
#pragma omp simd reduction(|:bad)
    for (int64_t j = 0; j < c; ++j) {
        union { float f; uint32_t u; } b;
        b.f = v[j];
        bad |= (b.u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* gate = sigmoid(conv1d(mean, w)) for one image. `padded` holds the c means at [left, left + c)
 * with zeros around them (c + k - 1 floats), so every output is one k-tap dot product. Returns 0
 * if a mean is not finite. */
static int gate_one(float *restrict padded, float *restrict gate, const float *restrict w,
                    int64_t c, int k, int left) {
    for (int t = 0; t < left; ++t) padded[t] = 0.0f;
    for (int t = left; t < k - 1; ++t) padded[c + t] = 0.0f;
    if (!all_finite(padded + left, c)) return 0;
    int64_t j0 = 0;
#if defined(__AVX512F__)
    for (; j0 + 16 <= c; j0 += 16) { /* k unaligned loads per 16 outputs, one store */
        __m512 acc = _mm512_mul_ps(_mm512_set1_ps(w[0]), _mm512_loadu_ps(padded + j0));
        for (int t = 1; t < k; ++t)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_loadu_ps(padded + j0 + t), acc);
        _mm512_storeu_ps(gate + j0, acc);
    }
#endif
    for (int64_t j = j0; j < c; ++j) gate[j] = w[0] * padded[j];
    for (int t = 1; t < k; ++t) {
        const float wt = w[t];
#pragma omp simd
        for (int64_t j = j0; j < c; ++j) gate[j] += wt * padded[j + t];
    }
    sigmoid_inplace(gate, c);
    return 1;
}

/* out[0:len] = x[0:len] * g (scalar g) or * g[0:len] (vector g), optionally with streaming
 * stores that bypass the cache (for outputs larger than the cache; needs 64-byte alignment). */
static void scale_row(const float *restrict x, float *restrict out, const float *restrict g,
                      int64_t len, int g_is_vector, int stream) {
#if defined(__AVX512F__)
    if (stream && ((uintptr_t)out & 63) == 0 && len % 16 == 0) {
        __m512 s = _mm512_set1_ps(g[0]);
        for (int64_t j = 0; j < len; j += 16) {
            __m512 m = g_is_vector ? _mm512_loadu_ps(g + j) : s;
            _mm512_stream_ps(out + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), m));
        }
        return;
    }
#elif defined(__AVX__)
    if (stream && ((uintptr_t)out & 31) == 0 && len % 8 == 0) {
        __m256 s = _mm256_set1_ps(g[0]);
        for (int64_t j = 0; j < len; j += 8) {
            __m256 m = g_is_vector ? _mm256_loadu_ps(g + j) : s;
            _mm256_stream_ps(out + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), m));
        }
        return;
    }
#endif
    (void)stream;
#if defined(__AVX512F__)
    if (!g_is_vector) {
        const __m512 m = _mm512_set1_ps(g[0]);
        int64_t j = 0;
        for (; j + 16 <= len; j += 16) _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), m));
        if (j < len) {
            const __mmask16 k = (__mmask16)((1u << (len - j)) - 1u);
            _mm512_mask_storeu_ps(out + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), m));
        }
        return;
    }
#endif
    if (g_is_vector) {
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) out[j] = x[j] * g[j];
    } else {
        const float s = g[0];
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) out[j] = x[j] * s;
    }
}

#if defined(__AVX512F__)
#define PAIR_PS(a, b) _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b))
#define PAIR_PD(a, b) _mm512_add_ps(                                                             \
    _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))),            \
    _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))))
#define PAIR_128(a, b) _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),      \
                                     _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)))

/* Sums of 16 consecutive NCHW rows of 16 <= hw floats, as one vector (lane r = row r). The block
 * is hw aligned vectors (it starts on a cache line when the tensor does), read once with aligned
 * loads; a row boundary inside a vector splits it with a mask. Each row's partial-sum vector is a
 * short independent chain; a transpose-and-add tree (30 shuffles) then replaces 16 horizontal
 * reductions. For short rows (7x7: 49 floats) this avoids misaligned, line-splitting row loads. */
static inline __m512 sum16_rows(const float *restrict block, int64_t hw) {
    __m512 part[16], cur = _mm512_setzero_ps();
    int r = 0;
    int64_t next = hw; /* flat index where row r + 1 starts */
    for (int64_t f = 0; f < 16 * hw; f += 16) {
        const __m512 v = _mm512_load_ps(block + f);
        if (next - f >= 16) {
            cur = _mm512_add_ps(cur, v);
            if (next - f == 16) {
                part[r++] = cur;
                cur = _mm512_setzero_ps();
                next += hw;
            }
        } else {
            const __mmask16 lo = (__mmask16)((1u << (next - f)) - 1u);
            part[r++] = _mm512_mask_add_ps(cur, lo, cur, v);
            cur = _mm512_maskz_mov_ps((__mmask16)~lo, v);
            next += hw;
        }
    }
    __m512 w[8], z[4];
    for (int i = 0; i < 8; ++i) w[i] = PAIR_PS(part[2 * i], part[2 * i + 1]);
    for (int i = 0; i < 4; ++i) z[i] = PAIR_PD(w[2 * i], w[2 * i + 1]);
    return PAIR_128(PAIR_128(z[0], z[1]), PAIR_128(z[2], z[3]));
}
#endif

/* Sum of one NCHW row (hw contiguous floats). */
static float row_sum(const float *restrict row, int64_t hw) {
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 64 <= hw; j += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(row + j));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(row + j + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(row + j + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(row + j + 48));
    }
    for (; j + 16 <= hw; j += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(row + j));
    if (j < hw) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps((__mmask16)((1u << (hw - j)) - 1u), row + j));
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
    float s = 0.0f;
#pragma omp simd reduction(+:s)
    for (int64_t p = 0; p < hw; ++p) s += row[p];
    return s;
#endif
}

#if defined(__AVX512F__)
/* NCHW scale over the flat tensor in aligned 16-float vectors [v0, v1): rows of hw >= 16 floats
 * straddle vectors, so a vector takes its multipliers from at most two rows (one blend). Avoids
 * the misaligned, partly masked per-row loop when hw is not a multiple of 16 (7x7, 14x14). */
static void scale_nchw_flat(const float *restrict x, float *restrict out, const float *restrict g,
                            int64_t rows, int64_t hw, int64_t v0, int64_t v1, int stream) {
    const int64_t total = rows * hw;
    int64_t f = v0 * 16;
    int64_t r = f / hw, next = (r + 1) * hw; /* row of lane 0; flat index where row r + 1 starts */
    for (int64_t v = v0; v < v1; ++v, f += 16) {
        __m512 m = _mm512_set1_ps(g[r]);
        if (next - f < 16 && r + 1 < rows)
            m = _mm512_mask_blend_ps((__mmask16)(0xFFFFu << (next - f)), m, _mm512_set1_ps(g[r + 1]));
        if (total - f >= 16) {
            __m512 y = _mm512_mul_ps(_mm512_loadu_ps(x + f), m);
            if (stream) _mm512_stream_ps(out + f, y); else _mm512_storeu_ps(out + f, y);
        } else {
            const __mmask16 k = (__mmask16)((1u << (total - f)) - 1u);
            _mm512_mask_storeu_ps(out + f, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + f), m));
        }
        if (next - f <= 16) { ++r; next += hw; }
    }
}
#endif

#if defined(__AVX512F__)
/* NHWC passes for a block of NQ * 16 channels (NQ = 1..16) with everything per row held in NQ
 * vector registers: the pool's accumulators, the scale's gate. One function per NQ (the register
 * arrays need a compile-time size), picked through a table by c / 16. */
#define UNROLL _Pragma("GCC unroll 16")
#define DEFINE_NHWC_PASSES(NQ)                                                                   \
    static void pool_nhwc_##NQ(const float *restrict xi, float *restrict mean, int64_t c,           \
                               int64_t hw, int64_t j0, float inv) {                              \
        __m512 acc[NQ];                                                                          \
        UNROLL for (int q = 0; q < NQ; ++q) acc[q] = _mm512_setzero_ps();                       \
        for (int64_t p = 0; p < hw; ++p) {                                                       \
            const float *row = xi + p * c + j0;                                                  \
            UNROLL for (int q = 0; q < NQ; ++q)                                                  \
                acc[q] = _mm512_add_ps(acc[q], _mm512_loadu_ps(row + 16 * q));                   \
        }                                                                                        \
        const __m512 s = _mm512_set1_ps(inv);                                                    \
        UNROLL for (int q = 0; q < NQ; ++q)                                                      \
            _mm512_storeu_ps(mean + j0 + 16 * q, _mm512_mul_ps(acc[q], s));                      \
    }                                                                                            \
    static void scale_nhwc_##NQ(const float *restrict x, float *restrict out,                     \
                                const float *restrict gate, int64_t hw, int64_t lo, int64_t hi,  \
                                int stream) {                                                    \
        const int64_t c = 16 * NQ;                                                               \
        int64_t i = lo / hw, p = lo % hw;                                                        \
        __m512 g[NQ];                                                                            \
        UNROLL for (int q = 0; q < NQ; ++q) g[q] = _mm512_loadu_ps(gate + i * c + 16 * q);       \
        for (int64_t r = lo; r < hi; ++r) {                                                      \
            const float *xr = x + r * c;                                                         \
            float *orow = out + r * c;                                                           \
            if (stream) {                                                                        \
                UNROLL for (int q = 0; q < NQ; ++q)                                              \
                    _mm512_stream_ps(orow + 16 * q, _mm512_mul_ps(_mm512_loadu_ps(xr + 16 * q), g[q])); \
            } else {                                                                             \
                UNROLL for (int q = 0; q < NQ; ++q)                                              \
                    _mm512_storeu_ps(orow + 16 * q, _mm512_mul_ps(_mm512_loadu_ps(xr + 16 * q), g[q])); \
            }                                                                                    \
            if (++p == hw && r + 1 < hi) {                                                       \
                p = 0;                                                                           \
                ++i;                                                                             \
                UNROLL for (int q = 0; q < NQ; ++q) g[q] = _mm512_loadu_ps(gate + i * c + 16 * q); \
            }                                                                                    \
        }                                                                                        \
    }
DEFINE_NHWC_PASSES(1) DEFINE_NHWC_PASSES(2) DEFINE_NHWC_PASSES(3) DEFINE_NHWC_PASSES(4)
DEFINE_NHWC_PASSES(5) DEFINE_NHWC_PASSES(6) DEFINE_NHWC_PASSES(7) DEFINE_NHWC_PASSES(8)
DEFINE_NHWC_PASSES(9) DEFINE_NHWC_PASSES(10) DEFINE_NHWC_PASSES(11) DEFINE_NHWC_PASSES(12)
DEFINE_NHWC_PASSES(13) DEFINE_NHWC_PASSES(14) DEFINE_NHWC_PASSES(15) DEFINE_NHWC_PASSES(16)

typedef void (*pool_fn)(const float *restrict, float *restrict, int64_t, int64_t, int64_t, float);
typedef void (*scale_fn)(const float *restrict, float *restrict, const float *restrict, int64_t, int64_t,
                         int64_t, int);
static const pool_fn POOL_NHWC[17] = {NULL, pool_nhwc_1, pool_nhwc_2, pool_nhwc_3, pool_nhwc_4,
    pool_nhwc_5, pool_nhwc_6, pool_nhwc_7, pool_nhwc_8, pool_nhwc_9, pool_nhwc_10, pool_nhwc_11,
    pool_nhwc_12, pool_nhwc_13, pool_nhwc_14, pool_nhwc_15, pool_nhwc_16};
static const scale_fn SCALE_NHWC[17] = {NULL, scale_nhwc_1, scale_nhwc_2, scale_nhwc_3, scale_nhwc_4,
    scale_nhwc_5, scale_nhwc_6, scale_nhwc_7, scale_nhwc_8, scale_nhwc_9, scale_nhwc_10, scale_nhwc_11,
    scale_nhwc_12, scale_nhwc_13, scale_nhwc_14, scale_nhwc_15, scale_nhwc_16};
#endif

/* Means of channels [j0, j0 + width) of one NHWC image. */
static void pool_nhwc_block(const float *restrict xi, float *restrict mean, int64_t c, int64_t hw,
                            int64_t j0, int64_t width, float inv) {
#if defined(__AVX512F__)
    if (width % 16 == 0 && width <= BLOCK) {
        POOL_NHWC[width / 16](xi, mean, c, hw, j0, inv);
        return;
    }
#endif
    float *restrict m = mean + j0;
    for (int64_t t = 0; t < width; ++t) m[t] = 0.0f;
    for (int64_t p = 0; p < hw; ++p) {
        const float *restrict row = xi + p * c + j0;
#pragma omp simd
        for (int64_t t = 0; t < width; ++t) m[t] += row[t];
    }
#pragma omp simd
    for (int64_t t = 0; t < width; ++t) m[t] *= inv;
}

/* The three passes, each over its share [lo, hi) of independent work items, as separate functions
 * with restrict arguments: inlined into the OpenMP region, whose shared variables the compiler
 * cannot prove unaliased, the loops lost their vectorisation (~1.3x slower at 7x7). */
static inline int64_t share(int64_t total, int t, int nt) { return total * t / nt; }

__attribute__((noinline))
static void pool_pass(const float *restrict x, float *restrict mean, int64_t n, int64_t c, int64_t hw,
                      int64_t stride, int channels_last, int t, int nt) {
    const float inv = 1.0f / (float)hw;
    if (channels_last) { /* work item: (image, block of BLOCK channels) */
        const int64_t nblocks = (c + BLOCK - 1) / BLOCK;
        const int64_t lo = share(n * nblocks, t, nt), hi = share(n * nblocks, t + 1, nt);
        int64_t i = lo / nblocks, b = lo % nblocks;
        for (int64_t item = lo; item < hi; ++item) {
            const int64_t j0 = b * BLOCK, width = c - j0 < BLOCK ? c - j0 : BLOCK;
            pool_nhwc_block(x + i * hw * c, mean + i * stride, c, hw, j0, width, inv);
            if (++b == nblocks) { b = 0; ++i; }
        }
    } else {
#if defined(__AVX512F__)
        if (c % 16 == 0 && hw >= 16 && hw < SUM16_MAX_HW && ((uintptr_t)x & 63) == 0) { /* item: 16 rows of one image */
            const int64_t per = c / 16, lo = share(n * per, t, nt), hi = share(n * per, t + 1, nt);
            const __m512 s = _mm512_set1_ps(inv);
            int64_t i = lo / per, b = lo % per;
            for (int64_t item = lo; item < hi; ++item) {
                _mm512_storeu_ps(mean + i * stride + b * 16,
                                 _mm512_mul_ps(sum16_rows(x + (i * c + b * 16) * hw, hw), s));
                if (++b == per) { b = 0; ++i; }
            }
            return;
        }
#endif
        /* work item: one (image, channel) row */
        const int64_t lo = share(n * c, t, nt), hi = share(n * c, t + 1, nt);
        int64_t i = lo / c, j = lo % c;
        for (int64_t r = lo; r < hi; ++r) {
            mean[i * stride + j] = row_sum(x + r * hw, hw) * inv;
            if (++j == c) { j = 0; ++i; }
        }
    }
}

__attribute__((noinline))
static int gate_pass(float *restrict padded, float *restrict gate, const float *restrict w, int64_t n,
                     int64_t c, int64_t stride, int k, int left, int t, int nt) {
    int finite = 1;
    for (int64_t i = share(n, t, nt); i < share(n, t + 1, nt); ++i)
        finite &= gate_one(padded + i * stride, gate + i * c, w, c, k, left);
    return finite;
}

__attribute__((noinline))
static void scale_pass(const float *restrict x, float *restrict out, const float *restrict gate,
                       int64_t n, int64_t c, int64_t hw, int channels_last, int stream, int t, int nt) {
    if (channels_last) { /* work item: one pixel's c channels */
        const int64_t lo = share(n * hw, t, nt), hi = share(n * hw, t + 1, nt);
#if defined(__AVX512F__)
        if (c % 16 == 0 && c <= BLOCK && (!stream || ((uintptr_t)out & 63) == 0)) {
            if (lo < hi) SCALE_NHWC[c / 16](x, out, gate, hw, lo, hi, stream);
            return;
        }
#endif
        int64_t i = lo / hw, p = lo % hw;
        for (int64_t r = lo; r < hi; ++r) {
            scale_row(x + r * c, out + r * c, gate + i * c, c, 1, stream);
            if (++p == hw) { p = 0; ++i; }
        }
        return;
    }
#if defined(__AVX512F__)
    if (hw >= 16 && ((uintptr_t)x & 63) == 0 && ((uintptr_t)out & 63) == 0) {
        const int64_t nvec = (n * c * hw + 15) / 16; /* work item: one aligned 16-float vector */
        scale_nchw_flat(x, out, gate, n * c, hw, share(nvec, t, nt), share(nvec, t + 1, nt), stream);
        return;
    }
#endif
    for (int64_t r = share(n * c, t, nt); r < share(n * c, t + 1, nt); ++r) /* one row */
        scale_row(x + r * hw, out + r * hw, gate + r, hw, 0, stream);
}

int ecabench_eca_forward(const float *x, float *out, const float *w, int64_t n, int64_t c, int64_t hw,
                         int k, int left, int channels_last, int stream, int threads) {
    const int64_t stride = c + k - 1; /* one image's means, zero-padded for the convolution */
    float *gate = scratch((size_t)(n * c + n * stride));
    if (!gate) return ECA_NOMEM;
    float *padded = gate + n * c; /* image i's means at padded[i * stride + left + j] */
    int finite = 1;
    threads = threads > 0 ? threads : 1;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_thread(), nt = omp_threads();
        if (n >= nt) { /* whole images per thread: the scale re-reads an image the pool just brought
                          into this core's L2 (5-10 % faster at 7x7 and 14x14 than pass by pass) */
            for (int64_t i = share(n, t, nt); i < share(n, t + 1, nt); ++i) {
                const int64_t at = i * c * hw;
                pool_pass(x + at, padded + i * stride + left, 1, c, hw, stride, channels_last, 0, 1);
                if (!gate_one(padded + i * stride, gate + i * c, w, c, k, left)) {
#pragma omp atomic write
                    finite = 0;
                    continue;
                }
                scale_pass(x + at, out + at, gate + i * c, 1, c, hw, channels_last, stream, 0, 1);
            }
#if defined(__AVX__)
            if (stream) _mm_sfence(); /* this thread's streaming stores are visible before we return */
#endif
        } else { /* fewer images than threads: each pass split over all threads */
            pool_pass(x, padded + left, n, c, hw, stride, channels_last, t, nt);
#pragma omp barrier
            if (!gate_pass(padded, gate, w, n, c, stride, k, left, t, nt)) {
#pragma omp atomic write
                finite = 0;
            }
#pragma omp barrier
            if (finite) scale_pass(x, out, gate, n, c, hw, channels_last, stream, t, nt);
#if defined(__AVX__)
            if (stream) _mm_sfence(); /* this thread's streaming stores are visible before we return */
#endif
        }
    }
    return finite ? ECA_OK : ECA_NONFINITE;
}
