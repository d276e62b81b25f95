/*
 * driver.h — one walk over a file for every command: scan judges, load also collects the
 * tensors of the graphs it judged, dis also lists one member's pickle.
 */
#ifndef BRINE_SCAN_DRIVER_H
#define BRINE_SCAN_DRIVER_H

#include "brine.h"
#include "load/tensors.h"
#include "scan/scan.h"

typedef enum drv_mode { DRV_SCAN, DRV_LOAD, DRV_DIS } drv_mode;

typedef struct drv_dis {
    const char *member; /* the pickle to list: its member path, NULL for the file */
    brine_dis_format format;
    brine_write_fn write;
    void *ctx;
    /* called with the member path (NULL: the file itself) of every pickle the file holds */
    void (*member_seen)(void *ctx, const char *path);
} drv_dis;

typedef struct drv_run_out {
    brine_result *result; /* the verdict and findings (owned by the caller) */
    int dis_found;        /* DRV_DIS: the member was listed */
    brine_error load_err; /* DRV_LOAD: code 0, or what the load cannot serve */
    void *ctx, *env;      /* held state: release with drv_release */
} drv_run_out;

/* Walks data with every format that bids (dir: the folder the file is in, or NULL). DRV_LOAD
 * collects the model's tensors into set (initialised by the caller) from the same graphs the judge
 * checked; the storages they point into stay valid until drv_release. On BRINE_OK, out->result is
 * set (caller frees it). Always call drv_release(out) afterwards. */
brine_status drv_run(const uint8_t *data, size_t len, const char *dir,
                     const brine_scan_options *opts, drv_mode mode, ld_set *set, const drv_dis *dis,
                     drv_run_out *out, brine_error *err);
void drv_release(drv_run_out *out);

/* The folder of path, for drv_run's dir: "." for a bare name, buf otherwise; NULL when it
 * does not fit. Files next to the model (joblib's sidecar arrays) are read from there. */
const char *drv_dir_of(const char *path, char *buf, size_t cap);

#endif
