/* Helpers for tests that build bundles at run time: temporary directories, file copies, manifest edits. */
#ifndef DINOF_TEST_BUNDLE_UTIL_H
#define DINOF_TEST_BUNDLE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a/b", malloc'ed (no fixed-size buffers to truncate). */
static inline char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = (char *)malloc(n);
    snprintf(out, n, "%s/%s", a, b);
    return out;
}

/* The whole of a file, NUL-terminated (malloc'ed; *len gets its size). NULL if unreadable. */
static inline char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return buf;
}

static inline int write_all(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL) return 0;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* `text` with the first occurrence of `from` replaced by `to` (malloc'ed). */
static inline char *replace_once(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    size_t head, n;
    char *out;
    if (at == NULL) return NULL;
    head = (size_t)(at - text);
    n = strlen(text) - strlen(from) + strlen(to);
    out = (char *)malloc(n + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, strlen(to));
    strcpy(out + head + strlen(to), at + strlen(from));
    return out;
}

#endif
