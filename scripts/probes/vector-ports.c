// How many 512-bit VPOPCNTQ, VPADDQ and VPTERNLOGQ this CPU issues a cycle (docs/kernels.md, "one compare a
// channel"): what bounds the emitted popcount kernel, whose inner step is three such operations a word and channel
// block (vpxorq, vpopcntq, vpaddq). Eight independent registers per loop, so each line measures throughput, not
// latency; the times are nanoseconds per instruction (the clock is not known inside a VM: compare the lines with
// each other). The mixes tell whether VPOPCNTQ has pipes of its own or shares them with the adds: a carry-save
// (Harley-Seal) kernel only pays where popcounts are scarcer than the other operations. From the repository root:
//
//   gcc -O2 -mavx512f -mavx512vpopcntdq -o /tmp/vector-ports scripts/probes/vector-ports.c && /tmp/vector-ports
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define REGS "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7)
#define EIGHT(op) op " %%zmm31, %0, %0\n\t" op " %%zmm31, %1, %1\n\t" op " %%zmm31, %2, %2\n\t" op " %%zmm31, %3, %3\n\t" \
                  op " %%zmm31, %4, %4\n\t" op " %%zmm31, %5, %5\n\t" op " %%zmm31, %6, %6\n\t" op " %%zmm31, %7, %7"

int main(void)
{
    __m512i a0 = _mm512_set1_epi64(1), a1 = _mm512_set1_epi64(2), a2 = _mm512_set1_epi64(3), a3 = _mm512_set1_epi64(4);
    __m512i a4 = _mm512_set1_epi64(5), a5 = _mm512_set1_epi64(6), a6 = _mm512_set1_epi64(7), a7 = _mm512_set1_epi64(8);
    const long n = 200000000;
    double t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("vpopcntq %0, %0\n\tvpopcntq %1, %1\n\tvpopcntq %2, %2\n\tvpopcntq %3, %3\n\t"
                         "vpopcntq %4, %4\n\tvpopcntq %5, %5\n\tvpopcntq %6, %6\n\tvpopcntq %7, %7" : REGS);
    printf("vpopcntq alone:            %.3f ns an instruction\n", (now() - t) / n / 8 * 1e9);
    t = now();
    for (long i = 0; i < n; i++) __asm__ volatile(EIGHT("vpaddq") : REGS : : "zmm31");
    printf("vpaddq alone:              %.3f ns an instruction\n", (now() - t) / n / 8 * 1e9);
    t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("vpternlogq $0x96, %%zmm30, %%zmm31, %0\n\tvpternlogq $0x96, %%zmm30, %%zmm31, %1\n\t"
                         "vpternlogq $0x96, %%zmm30, %%zmm31, %2\n\tvpternlogq $0x96, %%zmm30, %%zmm31, %3\n\t"
                         "vpternlogq $0x96, %%zmm30, %%zmm31, %4\n\tvpternlogq $0x96, %%zmm30, %%zmm31, %5\n\t"
                         "vpternlogq $0x96, %%zmm30, %%zmm31, %6\n\tvpternlogq $0x96, %%zmm30, %%zmm31, %7" : REGS : : "zmm30", "zmm31");
    printf("vpternlogq alone:          %.3f ns an instruction\n", (now() - t) / n / 8 * 1e9);
    t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("vpopcntq %0, %0\n\tvpaddq %1, %1, %1\n\tvpopcntq %2, %2\n\tvpaddq %3, %3, %3\n\t"
                         "vpopcntq %4, %4\n\tvpaddq %5, %5, %5\n\tvpopcntq %6, %6\n\tvpaddq %7, %7, %7" : REGS);
    printf("vpopcntq and vpaddq, 1:1:  %.3f ns an instruction\n", (now() - t) / n / 8 * 1e9);
    t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("vpxorq %%zmm31, %0, %0\n\tvpopcntq %1, %1\n\tvpaddq %2, %2, %2\n\tvpxorq %%zmm31, %3, %3\n\t"
                         "vpopcntq %4, %4\n\tvpaddq %5, %5, %5\n\tvpxorq %%zmm31, %6, %6\n\tvpopcntq %7, %7" : REGS : : "zmm31");
    printf("the kernel's xor/popcnt/add: %.3f ns an instruction\n", (now() - t) / n / 8 * 1e9);
    int64_t out[8];
    _mm512_storeu_si512(out, _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)),
                                              _mm512_add_epi64(_mm512_add_epi64(a4, a5), _mm512_add_epi64(a6, a7))));
    printf("(checksum %lld)\n", (long long)out[0]);
    return 0;
}
