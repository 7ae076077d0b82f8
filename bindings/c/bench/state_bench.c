/*
 * State Protocol benchmark for the C API: materializing 1,000,000 change events (100-byte
 * values, 10,000 keys, every 100th a delete) fed to ds_state_apply_json as JSON chunks of
 * 1,000 events (the workload of node/bench/state.mjs and python/bench/state.py). Prints
 * events/s and peak RSS.
 *
 *   gcc -O2 -Ibindings/c/include bindings/c/bench/state_bench.c \
 *       target/release/libdurastream_c.a -lpthread -ldl -lm -o /tmp/state_bench
 *   /tmp/state_bench [EVENTS]        (wrap in `flock /work/bench.lock`)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "durastream.h"

enum { KEYS = 10000, CHUNK = 1000 };

static size_t chunk(char *out, long start, long n) {
    size_t len = 0;
    out[len++] = '[';
    for (long i = start; i < start + n; i++) {
        if (i > start) out[len++] = ',';
        long key = i % KEYS;
        if (i >= KEYS && i % 100 == 0) {
            len += (size_t)sprintf(out + len, "{\"type\":\"row\",\"key\":\"k%ld\",\"headers\":{\"operation\":\"delete\"}}", key);
            continue;
        }
        char head[32];
        int h = sprintf(head, "{\"n\":%ld,\"s\":\"", i);
        char pad[128];
        memset(pad, 'x', (size_t)(100 - h - 2));
        pad[100 - h - 2] = 0;
        len += (size_t)sprintf(out + len, "{\"type\":\"row\",\"key\":\"k%ld\",\"value\":%s%s\"},\"headers\":{\"operation\":\"%s\"}}",
                               key, head, pad, i < KEYS ? "insert" : "update");
    }
    out[len++] = ']';
    return len;
}

int main(int argc, char **argv) {
    long events = argc > 1 ? atol(argv[1]) : 1000000;
    char *buf = malloc((size_t)CHUNK * 256);
    ds_state *s = ds_state_new();
    double busy = 0;
    for (long start = 0; start < events; start += CHUNK) {
        long n = events - start < CHUNK ? events - start : CHUNK;
        size_t len = chunk(buf, start, n);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (ds_state_apply_json(s, (const uint8_t *)buf, len, false, NULL, NULL) != DS_OK) {
            fprintf(stderr, "apply failed: %s\n", ds_last_error_message());
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        busy += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("c ds_state_apply_json: %ld events in %.3f s: %.0f events/s, %zu keys, peak RSS %ld MiB\n",
           events, busy, (double)events / busy, ds_state_size(s, "row"), ru.ru_maxrss / 1024);
    ds_state_free(s);
    free(buf);
    return 0;
}
