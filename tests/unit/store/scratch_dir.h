/* The store tests' scratch directories: a fresh one under /tmp per test, removed with
 * everything in it at teardown. */
#ifndef IOTHUB_TESTS_UNIT_STORE_SCRATCH_DIR_H
#define IOTHUB_TESTS_UNIT_STORE_SCRATCH_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/test-<name>-XXXXXX into dir (cap bytes). 0, or -1 when it cannot. */
static inline int scratch_dir_make(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/test-%s-XXXXXX", name);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static inline int scratch_dir_unlink(const char *path, const struct stat *st, int type,
                                     struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it; says so on stderr when it cannot. */
static inline void scratch_dir_remove(const char *dir)
{
    if (nftw(dir, scratch_dir_unlink, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
