/*
 * torch_convert.c — the C side of bench/torch_convert.py: how long libbrine takes to load
 * every tensor of a checkpoint, measured inside one process so that it compares with
 * torch.load(weights_only=True) timed inside Python.
 *
 * usage: torch_convert_load FILE [RUNS] [pages|bytes]
 *
 * One run = brine_model_open (which scans the file first) + for every tensor
 * brine_model_tensor, then either touching one byte per 4 KiB page of its data ("pages":
 * the data is mapped and made resident — what a program gets from a load) or summing every
 * byte ("bytes": the data is read, as torch.load's copy does), then brine_model_free.
 * Tensors without a zero-copy pointer (views, byte-swapped, deflated) are copied with
 * brine_model_tensor_read. Prints one line: best and median seconds, tensors, bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brine.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Returns a value that depends on the data, so the compiler keeps the reads. */
static uint64_t touch(const uint8_t *p, uint64_t n, int every_byte)
{
    uint64_t acc = 0;
    if (every_byte) {
        uint64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            acc += w;
        }
        for (; i < n; i++)
            acc += p[i];
    } else {
        for (uint64_t i = 0; i < n; i += 4096)
            acc += p[i];
        if (n)
            acc += p[n - 1];
    }
    return acc;
}

static int one_run(const char *path, int every_byte, size_t *tensors, uint64_t *bytes,
                   uint64_t *acc)
{
    brine_model *m;
    brine_error err;
    if (brine_model_open(path, NULL, &m, &err) != BRINE_OK) {
        fprintf(stderr, "torch_convert_load: %s: %s\n", path, err.msg);
        return -1;
    }
    size_t n = brine_model_tensor_count(m);
    *tensors = n;
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        brine_tensor_info t;
        if (brine_model_tensor(m, i, &t, &err) != BRINE_OK) {
            fprintf(stderr, "torch_convert_load: tensor %zu: %s\n", i, err.msg);
            brine_model_free(m);
            return -1;
        }
        *bytes += t.nbytes;
        if (t.data) {
            *acc += touch(t.data, t.nbytes, every_byte);
        } else {
            uint8_t *buf = malloc(t.nbytes ? (size_t)t.nbytes : 1);
            if (!buf || brine_model_tensor_read(m, i, buf, (size_t)t.nbytes, &err) != BRINE_OK) {
                fprintf(stderr, "torch_convert_load: tensor %zu: %s\n", i,
                        buf ? err.msg : "out of memory");
                free(buf);
                brine_model_free(m);
                return -1;
            }
            *acc += touch(buf, t.nbytes, every_byte);
            free(buf);
        }
    }
    brine_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s FILE [RUNS] [pages|bytes]\n", argv[0]);
        return 2;
    }
    long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
    int every_byte = argc > 3 && strcmp(argv[3], "bytes") == 0;
    if (runs < 1 || runs > 1000)
        runs = 5;
    double *t = calloc((size_t)runs, sizeof *t);
    size_t tensors = 0;
    uint64_t bytes = 0, acc = 0;
    if (!t)
        return 1;
    for (long r = 0; r < runs; r++) {
        double t0 = now();
        if (one_run(argv[1], every_byte, &tensors, &bytes, &acc) != 0) {
            free(t);
            return 1;
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    printf("best %.6f median %.6f tensors %zu bytes %llu check %llu\n", t[0], t[runs / 2], tensors,
           (unsigned long long)bytes, (unsigned long long)(acc & 0xff));
    free(t);
    return 0;
}
