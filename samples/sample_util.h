/* Small helpers shared by the samples: reading the CA file and printing a connection
 * string with its key hidden. Header-only so that each sample stays one file to build. */
#ifndef IOTHUB_SAMPLE_UTIL_H
#define IOTHUB_SAMPLE_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file as a NUL-terminated string (caller frees), or NULL. */
static inline char *sample_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            char *n = realloc(buf, cap + 65536);
            if (!n) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = n;
            cap += 65536;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Prints cs with the value of SharedAccessKey / SharedAccessSignature replaced. */
static inline void sample_print_masked(FILE *out, const char *cs)
{
    const char *p = cs;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : 0;
        bool secret = eq && ((klen == 15 && strncmp(p, "SharedAccessKey", klen) == 0) ||
                             (klen == 21 && strncmp(p, "SharedAccessSignature", klen) == 0));
        if (secret)
            fprintf(out, "%.*s=<hidden>", (int)(eq - p), p);
        else
            fprintf(out, "%.*s", (int)len, p);
        if (!end)
            break;
        fputc(';', out);
        p = end + 1;
    }
}

#endif
