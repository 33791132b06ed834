// What it costs this host to move data between its two CPUs (docs/kernels.md, "what splitting one frame over two
// threads costs"): the round trip of one cache line bounced between a thread pinned to CPU 0 and one pinned to CPU 1,
// and how fast CPU 0 reads a buffer just written by itself against one just written by CPU 1, at sizes from one L2
// to beyond L3. A VM's CPUID may hide the cache topology; this measures what it would tell. From the repository root:
//
//   gcc -O3 -ffast-math -march=native -o /tmp/cross-core scripts/probes/cross-core.c -lpthread && /tmp/cross-core
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_TRIPS 1000000
#define ROUNDS 20

static _Atomic long flag __attribute__((aligned(64)));
static _Atomic int phase;
static float *buffer;
static size_t floats;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void pin(int cpu) { cpu_set_t set; CPU_ZERO(&set); CPU_SET(cpu, &set); pthread_setaffinity_np(pthread_self(), sizeof set, &set); }

static void write_buffer(int round) { for (size_t i = 0; i < floats; i++) buffer[i] = (float)(i + round); }

static double read_buffer(void) { float sum = 0; for (size_t i = 0; i < floats; i++) sum += buffer[i]; return sum; }

// CPU 1's side of the ping-pong: answers each odd value with the next even one.
static void *pong(void *unused) {
    pin(1);
    for (long i = 0; i < ROUND_TRIPS; i++) { while (atomic_load(&flag) != 2 * i + 1) {} atomic_store(&flag, 2 * i + 2); }
    return unused;
}

// CPU 1 writes the buffer each time CPU 0 asks (odd phase) and says so (even phase).
static void *writer(void *unused) {
    pin(1);
    for (int r = 0; r < ROUNDS; r++) { while (atomic_load(&phase) != 2 * r + 1) {} write_buffer(r); atomic_store(&phase, 2 * r + 2); }
    return unused;
}

int main(void) {
    pthread_t thread;
    double checksum = 0;
    pin(0);
    pthread_create(&thread, NULL, pong, NULL);
    double start = now();
    for (long i = 0; i < ROUND_TRIPS; i++) { atomic_store(&flag, 2 * i + 1); while (atomic_load(&flag) != 2 * i + 2) {} }
    double end = now();
    pthread_join(thread, NULL);
    printf("cache line round trip CPU 0 <-> CPU 1: %.0f ns\n", (end - start) / ROUND_TRIPS * 1e9);
    for (int mb = 1; mb <= 32; mb *= 2) {
        floats = (size_t)mb << 18;
        buffer = aligned_alloc(64, floats * sizeof(float));
        double own = 0, other = 0;
        for (int r = 0; r < ROUNDS; r++) { write_buffer(r); double t = now(); checksum += read_buffer(); own += now() - t; }
        atomic_store(&phase, 0);
        pthread_create(&thread, NULL, writer, NULL);
        for (int r = 0; r < ROUNDS; r++) {
            atomic_store(&phase, 2 * r + 1);
            while (atomic_load(&phase) != 2 * r + 2) {}
            double t = now(); checksum += read_buffer(); other += now() - t;
        }
        pthread_join(thread, NULL);
        double bytes = (double)ROUNDS * floats * sizeof(float);
        printf("%2d MB read by CPU 0: %5.1f GB/s after its own write, %5.1f GB/s after CPU 1's\n", mb, bytes / own / 1e9, bytes / other / 1e9);
        free(buffer);
    }
    return checksum == 0.5; // keeps the sums from being optimized away
}
