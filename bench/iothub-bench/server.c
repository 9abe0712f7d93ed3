#include "server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool read_cpu(int pid, double *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long utime, stime;
    /* After ")": state (3), then fields 4..13, utime (14), stime (15). */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return false;
    *out = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

static bool read_rss(int pid, long *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", out) == 1) {
            ok = true;
            break;
        }
    fclose(f);
    return ok;
}

void server_sample(int pid, struct server_sample *s)
{
    s->ok = pid > 0 && read_cpu(pid, &s->cpu_s) && read_rss(pid, &s->rss_kb);
}
