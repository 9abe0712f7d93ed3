#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "isotime.h"

/* One line at most this long; PIPE_BUF-sized writes to a pipe are atomic. */
#define LOG_LINE_MAX 4096
#define LOG_MSG_MAX  1024

static atomic_int min_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* logfmt needs quotes around empty values and values with spaces, '=', '"' or controls. */
static bool needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '=' || c == '"' || c == 0x7f)
            return true;
    }
    return false;
}

/* The escaped form of one character inside quotes (at most 6 characters + NUL). */
static void escape_char(unsigned char c, char out[8])
{
    switch (c) {
    case '"':
        strcpy(out, "\\\"");
        break;
    case '\\':
        strcpy(out, "\\\\");
        break;
    case '\n':
        strcpy(out, "\\n");
        break;
    case '\r':
        strcpy(out, "\\r");
        break;
    case '\t':
        strcpy(out, "\\t");
        break;
    default:
        if (c < 0x20 || c == 0x7f) {
            snprintf(out, 8, "\\u%04x", c);
        } else {
            out[0] = (char)c;
            out[1] = '\0';
        }
    }
}

const char *log_quote(const char *s, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (!s)
        s = "";
    if (!needs_quotes(s)) {
        size_t n = strnlen(s, cap - 1);
        memcpy(buf, s, n);
        buf[n] = '\0';
        return buf;
    }
    /* Quoted: stop before an escape that would not fit with the closing quote, so a
     * truncated value is still well-formed. */
    size_t o = 0;
    if (cap >= 3)
        buf[o++] = '"';
    for (; *s && cap >= 3; s++) {
        char esc[8];
        escape_char((unsigned char)*s, esc);
        size_t n = strlen(esc);
        if (o + n + 2 > cap)
            break;
        memcpy(buf + o, esc, n);
        o += n;
    }
    if (cap >= 3)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere to report a failing stderr */
        p += n;
        len -= (size_t)n;
    }
}

/* A field value that should have gone through log_quote() must not start a forged line. */
static void unbreak_lines(char *p, size_t len)
{
    for (size_t i = 0; i < len && p[i]; i++)
        if (p[i] == '\n' || p[i] == '\r')
            p[i] = ' ';
}

void log_emit(enum log_level level, const char *msg, const char *fields, ...)
{
    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    if ((unsigned)level > LOG_ERROR)
        level = LOG_ERROR;
    char line[LOG_LINE_MAX], ts[ISOTIME_SIZE], qmsg[LOG_MSG_MAX];
    isotime_format(time_now_ms(), ts, sizeof(ts));
    int n = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts, level_names[level],
                     log_quote(msg, qmsg, sizeof(qmsg)));
    size_t len = n < 0 ? 0 : (size_t)n;
    if (fields && fields[0] && len < sizeof(line) - 2) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fields);
        n = vsnprintf(line + len, sizeof(line) - len, fields, ap);
        va_end(ap);
        if (n < 0) {
            len--; /* drop the separator */
        } else {
            unbreak_lines(line + len, sizeof(line) - len);
            len += (size_t)n;
        }
    }
    /* A line that did not fit is cut short; it still ends in exactly one newline. */
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    write_all(line, len);
}
