/* What the C tests need from POSIX, also on Windows (mingw-w64; run under wine by scripts/test-windows.sh):
   mkdir with a mode, mkdtemp, rmdir, alarm, and a temporary directory template. */
#ifndef DINOF_TEST_PORTABLE_H
#define DINOF_TEST_PORTABLE_H

#include <stdio.h>
#include <stdlib.h>

#ifdef _WIN32
#include <direct.h>
#include <io.h>
#define mkdir(path, mode) _mkdir(path)
#define rmdir(path) _rmdir(path)
static inline char *mkdtemp(char *tmpl) { return _mktemp(tmpl) != NULL && _mkdir(tmpl) == 0 ? tmpl : NULL; }
/* No alarm(): scripts/test-windows.sh runs each program under `timeout` instead. */
#define alarm(seconds) ((void)(seconds))
#else
#include <sys/stat.h>
#include <unistd.h>
#endif

/* "<temporary directory>/<prefix>XXXXXX" for mkdtemp: $TMPDIR or /tmp; %TEMP% on Windows. */
static inline void temp_template(char *buf, size_t len, const char *prefix) {
#ifdef _WIN32
    const char *dir = getenv("TEMP");
#else
    const char *dir = getenv("TMPDIR");
#endif
    snprintf(buf, len, "%s/%sXXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp", prefix);
}

#endif
