/*
 * fuzz_out_dir.h — a temporary folder for the targets that write files (the convert paths):
 * made when the process starts (this defines LLVMFuzzerInitialize), removed at exit, and
 * counted after every input, so a conversion that leaves a file behind or loses one is caught.
 *
 * Define FUZZ_OUT_DIR (a mkdtemp template) before including it, once per target.
 */
#ifndef BRINE_FUZZ_OUT_DIR_H
#define BRINE_FUZZ_OUT_DIR_H

#include <dirent.h>
#include <unistd.h>

#include "fuzz.h"

static char out_dir[64];

static void remove_out_dir(void) { rmdir(out_dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(out_dir, sizeof out_dir, "%s", FUZZ_OUT_DIR);
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(remove_out_dir);
    return 0;
}

/* Files in the folder now (names starting with a dot are not counted). */
static size_t files_in_out_dir(void)
{
    size_t n = 0;
    DIR *d = opendir(out_dir);
    FUZZ_CHECK(d != NULL, "cannot list %s", out_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#endif
