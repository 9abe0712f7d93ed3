#include "strbuf.h"

#include <string.h>

bool str_copy(char *dst, size_t cap, const char *src)
{
    return str_copy_n(dst, cap, src, strlen(src));
}

bool str_copy_n(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return false;
    bool fits = len < cap;
    size_t n = fits ? len : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return fits;
}
