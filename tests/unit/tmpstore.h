/* tmpstore.h — a fresh LMDB environment in its own temporary directory, for one unit test
 * (STYLE: a fresh temporary environment per store test). Header-only so each test binary
 * stays a single file. */
#ifndef WATTLE_TMPSTORE_H
#define WATTLE_TMPSTORE_H
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

static int tmpstore_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Makes /tmp/wattle-<tag>-XXXXXX (its path in root) and opens a store in root/data (its path
 * in dir, when dir is not NULL). */
static inline store *tmpstore_open(char *root, size_t rootlen, char *dir, size_t dirlen,
                                   const char *tag)
{
    char data[160], err[256] = "";
    store *st = NULL;
    snprintf(root, rootlen, "/tmp/wattle-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(root));
    snprintf(data, sizeof data, "%s/data", root);
    if (dir) {
        int n = snprintf(dir, dirlen, "%s", data);
        cr_assert(n >= 0 && (size_t)n < dirlen, "the test's buffer for %s is too small", data);
    }
    cr_assert_eq(store_open(&st, data, false, err, sizeof err), WT_OK, "%s", err);
    return st;
}

/* Closes *st and removes the directory. */
static inline void tmpstore_close(store **st, char *root)
{
    store_close(*st);
    *st = NULL;
    if (root[0])
        nftw(root, tmpstore_rm, 16, FTW_DEPTH | FTW_PHYS);
    root[0] = '\0';
}

#endif
