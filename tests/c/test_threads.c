/* test_threads.c — brine from several threads at once (run under ThreadSanitizer by
 * scripts/test.sh): each thread scans and loads every file given on the command line, sharing
 * one policy and one limits struct, and must get exactly what a single thread got. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "brine.h"

enum { THREADS = 4, ROUNDS = 3, MAX_FILES = 256 };

typedef struct outcome {
    brine_verdict verdict;
    size_t findings, globals, tensors;
    uint8_t digest[32]; /* XOR of the loaded tensors' SHA-256, or zeros */
    int loaded;
} outcome;

static const brine_policy *shared_policy;
static brine_limits shared_limits;
static int n_files;
static char **files;
static outcome expected[MAX_FILES];

static int run_one(const char *path, outcome *o)
{
    memset(o, 0, sizeof *o);
    brine_scan_options so = {shared_policy, &shared_limits, sizeof so};
    brine_result *r = NULL;
    if (brine_scan_file(path, &so, &r, NULL) != BRINE_OK)
        return -1;
    o->verdict = brine_result_verdict(r);
    o->findings = brine_result_finding_count(r);
    o->globals = brine_result_global_count(r);
    o->tensors = brine_result_tensor_count(r);
    brine_result_free(r);

    brine_load_options lo = {shared_policy, &shared_limits, sizeof lo};
    brine_model *m = NULL;
    if (brine_model_open(path, &lo, &m, NULL) != BRINE_OK)
        return 0; /* refused files are part of the outcome: loaded stays 0 */
    o->loaded = 1;
    for (size_t i = 0; i < brine_model_tensor_count(m); i++) {
        uint8_t d[32];
        if (brine_model_tensor_sha256(m, i, d, NULL) != BRINE_OK) {
            brine_model_free(m);
            return -1;
        }
        for (int k = 0; k < 32; k++)
            o->digest[k] ^= d[k];
    }
    brine_model_free(m);
    return 0;
}

static void *worker(void *arg)
{
    long failures = 0, id = (long)(size_t)arg;
    for (int round = 0; round < ROUNDS; round++)
        for (int f = 0; f < n_files; f++) {
            int at = (f + (int)id) % n_files; /* threads start on different files */
            outcome o;
            if (run_one(files[at], &o) != 0 || memcmp(&o, &expected[at], sizeof o) != 0) {
                fprintf(stderr, "thread %ld: %s differs from the single-threaded run\n", id,
                        files[at]);
                failures++;
            }
        }
    return (void *)(size_t)failures;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc - 1 > MAX_FILES) {
        fprintf(stderr, "usage: test_threads FILE... (at most %d)\n", MAX_FILES);
        return 2;
    }
    files = argv + 1;
    n_files = argc - 1;
    brine_policy *policy = brine_policy_new();
    if (!policy || brine_policy_allow(policy, "sklearn", NULL) != BRINE_OK)
        return 2;
    shared_policy = policy;
    brine_limits_default(&shared_limits);
    for (int f = 0; f < n_files; f++)
        if (run_one(files[f], &expected[f]) != 0) {
            fprintf(stderr, "cannot scan %s\n", files[f]);
            return 2;
        }

    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(size_t)i) != 0)
            return 2;
    long failures = 0;
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        failures += (long)(size_t)res;
    }
    brine_policy_free(policy);
    int loaded = 0;
    for (int f = 0; f < n_files; f++)
        loaded += expected[f].loaded;
    printf("%d threads x %d rounds x %d files (%d loadable): %ld differences\n", THREADS, ROUNDS,
           n_files, loaded, failures);
    return failures ? 1 : 0;
}
