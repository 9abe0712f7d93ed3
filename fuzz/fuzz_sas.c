/* libFuzzer target: SAS tokens (sas_parse, sas_verify, sas_path_covers, sas_build) and
 * percent-coding (url_decode, url_encode_component).
 *
 * Besides "no crash, no sanitizer report" it checks properties that must hold for every
 * input: decoded fields stay within their buffers, a built token parses back to the same
 * resource and verifies, and encode/decode round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sas.h"
#include "common/urlcode.h"

#define FUZZ_KEY   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define FUZZ_INPUT (SAS_TOKEN_MAX + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void parse_and_verify(const uint8_t *data, size_t size)
{
    struct sas_token tok;
    /* Parse straight from the fuzzer's buffer: sas_parse must honour len and never rely on
     * a terminating NUL (ASan flags any read past size). */
    if (sas_parse((const char *)data, size, &tok) != SAS_OK)
        return;
    check(strlen(tok.sr_raw) < sizeof(tok.sr_raw) && strlen(tok.sr) <= strlen(tok.sr_raw));
    check(strlen(tok.host) < sizeof(tok.host) && strlen(tok.path) < sizeof(tok.path));
    check(tok.expiry >= 0);
    check(sas_path_covers(tok.path, tok.path));
    check(sas_path_covers("", tok.path));
    sas_path_covers(tok.path, "devices/dev1/modules/m1");
    sas_verify(&tok, FUZZ_KEY, true);
    sas_verify(&tok, tok.skn, true); /* arbitrary key text */
}

static void url_round_trip(const char *s, size_t len)
{
    static char enc[3 * FUZZ_INPUT + 1], dec[FUZZ_INPUT + 1];
    int n = url_encode_component(s, len, enc, sizeof(enc));
    check(n >= (int)len);
    int m = url_decode(enc, (size_t)n, dec, sizeof(dec));
    check(m == (int)len && memcmp(dec, s, len) == 0);
    /* Decoding arbitrary text, and in place. */
    url_decode(s, len, dec, sizeof(dec));
    memcpy(dec, s, len);
    url_decode(dec, len, dec, len + 1);
}

static void build_round_trip(const char *resource, size_t len)
{
    static char token[SAS_TOKEN_MAX + 1];
    const char *policy = resource[0] == 'p' ? resource : NULL;
    int n = sas_build(resource, FUZZ_KEY, policy, 1700000000, token, sizeof(token));
    /* A resource shorter than SAS_HOST_MAX cannot overflow host or path when parsed back. */
    if (n < 0 || len >= SAS_HOST_MAX)
        return;
    struct sas_token tok;
    check(sas_parse(token, (size_t)n, &tok) == SAS_OK);
    check(strcmp(tok.sr, resource) == 0);
    check(strcmp(tok.skn, policy ? policy : "") == 0);
    check(sas_verify(&tok, FUZZ_KEY, false));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_and_verify(data, size);
    /* The string-based functions get a bounded, NUL-terminated copy. */
    static char copy[FUZZ_INPUT + 1];
    size_t len = size < FUZZ_INPUT ? size : FUZZ_INPUT;
    memcpy(copy, data, len);
    copy[len] = '\0';
    len = strlen(copy); /* up to the first NUL */
    url_round_trip(copy, len);
    build_round_trip(copy, len);
    return 0;
}
