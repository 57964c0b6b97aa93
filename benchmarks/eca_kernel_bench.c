/* ECA's C kernel timed from C against memcpy: its own speed, without Python, ctypes or a fresh
 * output tensor per call (docs/performance.md, "ECA's fused C kernel").
 *
 *   cc -O3 -march=native -fopenmp -I. benchmarks/eca_kernel_bench.c -o /tmp/eca_kernel_bench
 *   /tmp/eca_kernel_bench 2048 49 1      # C, H*W, channels_last (1) or NCHW (0); N = 8, k = 7
 *
 * Prints the medians of memcpy (one read, one write) and of the kernel over 15 rounds of 100 calls,
 * and kernel / (1.5 x memcpy), the 3-pass bound of the Python benchmarks.
 */
#include "src/ecabench/attention/kernels/eca_cpu.c"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s C HW CHANNELS_LAST(0|1)\n", argv[0]);
        return 2;
    }
    const int64_t n = 8, c = atoll(argv[1]), hw = atoll(argv[2]);
    const int cl = atoi(argv[3]), rounds = 15, loops = 100;
    const size_t count = (size_t)(n * c * hw);
    float *x = aligned_alloc(64, count * 4), *out = aligned_alloc(64, count * 4), *buf = aligned_alloc(64, count * 4);
    const float w[7] = {0.1f, 0.2f, 0.3f, 0.4f, 0.3f, 0.2f, 0.1f};
    for (size_t i = 0; i < count; ++i) x[i] = (float)((i * 2654435761u) % 1000u) / 500.0f - 1.0f;
    memset(out, 0, count * 4);
    memset(buf, 0, count * 4);
    double copy[15], kernel[15];
    for (int r = 0; r < rounds; ++r) {
        double t0 = now();
        for (int l = 0; l < loops; ++l) memcpy(buf, x, count * 4);
        copy[r] = (now() - t0) / loops;
        t0 = now();
        for (int l = 0; l < loops; ++l) ecabench_eca_forward(x, out, w, n, c, hw, 7, 3, cl, 0, 1);
        kernel[r] = (now() - t0) / loops;
    }
    qsort(copy, rounds, sizeof(double), cmp);
    qsort(kernel, rounds, sizeof(double), cmp);
    printf("N=8 C=%lld HW=%lld %s: memcpy %.1f us, kernel %.1f us, kernel / bound %.2f\n", (long long)c,
           (long long)hw, cl ? "NHWC" : "NCHW", 1e6 * copy[rounds / 2], 1e6 * kernel[rounds / 2],
           kernel[rounds / 2] / (1.5 * copy[rounds / 2]));
    return 0;
}
