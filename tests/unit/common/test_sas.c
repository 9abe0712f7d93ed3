/* SAS tokens: the test vectors of spec 1.4, a real Node token from a wire capture, the
 * parser's rules (1.2) and the scope rule (1.6). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/sas.h"

/* Spec 1.4: bytes 0x00..0x1f, se = 1700000000. */
#define VEC_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define VEC_SE  "1700000000"
/* A different valid key (32 bytes of 0xff). */
#define OTHER_KEY "//////////////////////////////////////////8="

#define NODE_DEVICE_TOKEN                                                                          \
    "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1"                                          \
    "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5E%3D&se=1700000000"

static int parse(const char *token, struct sas_token *tok)
{
    return sas_parse(token, strlen(token), tok);
}

static void assert_vector(const char *token, const char *key, bool key_text)
{
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_true(sas_verify(&tok, key, key_text));
    /* The key-text convention must only be used when asked for, and vice versa. */
    assert_int_equal(sas_verify(&tok, key, !key_text), !key_text);
}

/* ---- spec 1.4 test vectors ---- */

static void test_vector_signatures(void **state)
{
    (void)state;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    char sig[64];
    assert_int_equal(sas_signature(key, 32, "localhost%2Fdevices%2Fdev1", VEC_SE, sig, sizeof(sig)),
                     44);
    assert_string_equal(sig, "Hw93slEtFrbgyUX77S/+SbvJmZKHRei4LjyPi1y+S5E=");
    sas_signature(key, 32, "myhub.localhost/devices/dev1", VEC_SE, sig, sizeof(sig));
    assert_string_equal(sig, "+hJ6l1vf4ETmjO1MtBgDPoYxBaIRvpgx/HvxSCR3gkQ=");
    sas_signature(key, 32, "localhost", VEC_SE, sig, sizeof(sig));
    assert_string_equal(sig, "RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ+N4HJSineMcimhs=");
    const char *eh = "sb%3A%2F%2Flocalhost%2Fmyhub%2FConsumerGroups%2F%24default%2FPartitions%2F0";
    sas_signature((const uint8_t *)VEC_KEY, strlen(VEC_KEY), eh, VEC_SE, sig, sizeof(sig));
    assert_string_equal(sig, "4P0bfyjS1NyESXhLPmY6uLRDA4Dap5GqW2/Sv/RpuE0=");
    /* Too small an output buffer is an error, not an overflow. */
    assert_int_equal(sas_signature(key, 32, "localhost", VEC_SE, sig, 44), -1);
}

static void test_vector_node_device(void **state)
{
    (void)state;
    struct sas_token tok;
    assert_int_equal(parse(NODE_DEVICE_TOKEN, &tok), SAS_OK);
    assert_string_equal(tok.sr_raw, "localhost%2Fdevices%2Fdev1");
    assert_string_equal(tok.sr, "localhost/devices/dev1");
    assert_string_equal(tok.sig, "Hw93slEtFrbgyUX77S/+SbvJmZKHRei4LjyPi1y+S5E=");
    assert_string_equal(tok.se_raw, VEC_SE);
    assert_true(tok.expiry == 1700000000);
    assert_string_equal(tok.skn, "");
    assert_string_equal(tok.host, "localhost");
    assert_string_equal(tok.path, "devices/dev1");
    assert_vector(NODE_DEVICE_TOKEN, VEC_KEY, false);
}

static void test_vector_c_mqtt_device(void **state)
{
    (void)state;
    /* C SDK: raw slashes in sr, lower-case hex in sig. */
    const char *token = "SharedAccessSignature sr=myhub.localhost/devices/dev1"
                        "&sig=%2bhJ6l1vf4ETmjO1MtBgDPoYxBaIRvpgx%2fHvxSCR3gkQ%3d&se=1700000000";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.sr_raw, "myhub.localhost/devices/dev1");
    assert_string_equal(tok.host, "myhub.localhost");
    assert_string_equal(tok.path, "devices/dev1");
    assert_vector(token, VEC_KEY, false);
}

static void test_vector_node_service(void **state)
{
    (void)state;
    /* Node azure-iothub order: sr, sig, skn, se; sr verbatim. */
    const char *token = "SharedAccessSignature sr=localhost"
                        "&sig=RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ%2BN4HJSineMcimhs%3D&skn=iothubowner"
                        "&se=1700000000";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.skn, "iothubowner");
    assert_string_equal(tok.host, "localhost");
    assert_string_equal(tok.path, "");
    assert_vector(token, VEC_KEY, false);
}

static void test_vector_event_hubs_key_text(void **state)
{
    (void)state;
    const char *token =
        "SharedAccessSignature "
        "sr=sb%3A%2F%2Flocalhost%2Fmyhub%2FConsumerGroups%2F%24default%2FPartitions%2F0"
        "&sig=4P0bfyjS1NyESXhLPmY6uLRDA4Dap5GqW2%2FSv%2FRpuE0%3D&se=1700000000&skn=iothubowner";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.sr, "sb://localhost/myhub/ConsumerGroups/$default/Partitions/0");
    assert_string_equal(tok.host, "localhost");
    assert_string_equal(tok.path, "myhub/ConsumerGroups/$default/Partitions/0");
    assert_string_equal(tok.skn, "iothubowner");
    /* Signed with the UTF-8 bytes of the key text: only valid with also_key_text. */
    assert_vector(token, VEC_KEY, true);
}

static void test_real_node_capture(void **state)
{
    (void)state;
    /* fixtures/wire/https-registry.txt: azure-iothub 1.16.6 Authorization header. The
     * expiry may be in the past by now; only the signature is checked here. */
    const char *token = "SharedAccessSignature sr=localhost"
                        "&sig=po7CS5q7VPB6WjPXnUo%2FR96f%2FEyNjqS8JopXNgQRMkI%3D"
                        "&skn=iothubowner&se=1795670515";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_true(tok.expiry == 1795670515);
    assert_string_equal(tok.skn, "iothubowner");
    assert_string_equal(tok.host, "localhost");
    assert_true(sas_verify(&tok, "RkFLRS1JT1RIVUJPV05FUi1LRVktTk9ULVNFQ1JFVCE=", false));
    assert_false(sas_verify(&tok, VEC_KEY, true));
}

/* ---- parsing rules ---- */

static void test_expiry_parse(void **state)
{
    (void)state;
    struct sas_token tok;
    assert_int_equal(parse("SharedAccessSignature sr=h&sig=x&se=0", &tok), SAS_OK);
    assert_true(tok.expiry == 0);
    assert_int_equal(parse("SharedAccessSignature sr=h&sig=x&se=9223372036854775807", &tok),
                     SAS_OK);
    assert_true(tok.expiry == INT64_MAX);
    static const char *const bad[] = {
        "SharedAccessSignature sr=h&sig=x&se=9223372036854775808", /* overflow */
        "SharedAccessSignature sr=h&sig=x&se=-1",
        "SharedAccessSignature sr=h&sig=x&se=+1",
        "SharedAccessSignature sr=h&sig=x&se=1700000000.5",
        "SharedAccessSignature sr=h&sig=x&se= 1",
        "SharedAccessSignature sr=h&sig=x&se=1e9",
        "SharedAccessSignature sr=h&sig=x&se=0x10",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &tok), SAS_ERR_EXPIRY);
}

static void test_empty_skn_is_absent(void **state)
{
    (void)state;
    /* C SDK HTTP transport: "&skn=" with an empty value on device tokens. */
    const char *token =
        "SharedAccessSignature sr=myhub.localhost/devices/dev1"
        "&sig=%2bhJ6l1vf4ETmjO1MtBgDPoYxBaIRvpgx%2fHvxSCR3gkQ%3d&se=1700000000&skn=";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.skn, "");
    assert_true(sas_verify(&tok, VEC_KEY, false));
}

static void test_field_order_and_unknown_fields(void **state)
{
    (void)state;
    /* Docs order sig, se, skn, sr; unknown and empty-named fields are ignored. */
    const char *token = "SharedAccessSignature foo=bar&sig=RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ%2BN4HJSine"
                        "Mcimhs%3D&se=1700000000&x=&=y&skn=iothubowner&sr=localhost&SR=ignored";
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.sr_raw, "localhost");
    assert_true(sas_verify(&tok, VEC_KEY, false));
}

static void test_value_split_at_first_equals(void **state)
{
    (void)state;
    /* An unencoded base64 sig keeps its '=' padding. */
    struct sas_token tok;
    assert_int_equal(parse("SharedAccessSignature sr=localhost&sig=RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ"
                           "+N4HJSineMcimhs=&se=1700000000",
                           &tok),
                     SAS_OK);
    assert_string_equal(tok.sig, "RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ+N4HJSineMcimhs=");
    assert_true(sas_verify(&tok, VEC_KEY, false));
}

static void test_missing_fields(void **state)
{
    (void)state;
    static const char *const missing[] = {
        "SharedAccessSignature sig=x&se=1",     "SharedAccessSignature sr=h&se=1",
        "SharedAccessSignature sr=h&sig=x",     "SharedAccessSignature sr=&sig=x&se=1",
        "SharedAccessSignature sr=h&sig=&se=1", "SharedAccessSignature sr=h&sig=x&se=",
        "SharedAccessSignature skn=a&foo=b",
    };
    struct sas_token tok;
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        assert_int_equal(parse(missing[i], &tok), SAS_ERR_MISSING);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "SharedAccessSignature",
        "SharedAccessSignature ",
        "sharedaccesssignature sr=h&sig=x&se=1",
        "SharedAccessSignaturesr=h&sig=x&se=1",
        "SharedAccessSignature\tsr=h&sig=x&se=1",
        "Bearer sr=h&sig=x&se=1",
        "SharedAccessSignature sr=h&sig=x&se=1&",     /* empty field */
        "SharedAccessSignature sr=h&&sig=x&se=1",     /* empty field */
        "SharedAccessSignature sr=h&sig=x&se=1&junk", /* field without '=' */
        "SharedAccessSignature sr=h&sig=x&se=1&sr=h", /* repeated sr */
        "SharedAccessSignature sr=h&sig=x&sig=y&se=1",
        "SharedAccessSignature sr=h&sig=x&se=1&se=2",
        "SharedAccessSignature sr=h&sig=x&se=1&skn=a&skn=b",
    };
    struct sas_token tok;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &tok), SAS_ERR_SYNTAX);
    /* Exactly one space: with two, the first field is named " sr" (unknown), so sr is
     * missing. */
    assert_int_equal(parse("SharedAccessSignature  sr=h&sig=x&se=1", &tok), SAS_ERR_MISSING);
}

static void test_bad_encodings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "SharedAccessSignature sr=localhost%2&sig=x&se=1",
        "SharedAccessSignature sr=localhost%zz&sig=x&se=1",
        "SharedAccessSignature sr=localhost%00x&sig=x&se=1",
        "SharedAccessSignature sr=localhost&sig=abc%&se=1",
        "SharedAccessSignature sr=localhost&sig=abc%G0&se=1",
        "SharedAccessSignature sr=localhost&sig=x&se=1&skn=own%er",
    };
    struct sas_token tok;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &tok), SAS_ERR_ENCODING);
}

static void test_embedded_nul_and_length_bound(void **state)
{
    (void)state;
    struct sas_token tok;
    /* len counts, not the NUL: a NUL inside the token is rejected. */
    const char with_nul[] = "SharedAccessSignature sr=h\0x&sig=x&se=1";
    assert_int_equal(sas_parse(with_nul, sizeof(with_nul) - 1, &tok), SAS_ERR_SYNTAX);
    /* Only len bytes are read: the tail after len is not part of the token. */
    const char *longer = "SharedAccessSignature sr=h&sig=x&se=12GARBAGE";
    assert_int_equal(sas_parse(longer, strlen(longer) - 7, &tok), SAS_OK);
    assert_true(tok.expiry == 12);
}

static void test_over_long_input(void **state)
{
    (void)state;
    static char token[SAS_TOKEN_MAX + 64];
    struct sas_token tok;
    /* A whole token over SAS_TOKEN_MAX. */
    int n = snprintf(token, sizeof(token), "SharedAccessSignature sr=h&sig=x&se=1&pad=");
    memset(token + n, 'a', sizeof(token) - (size_t)n - 1);
    token[sizeof(token) - 1] = '\0';
    assert_int_equal(sas_parse(token, SAS_TOKEN_MAX + 1, &tok), SAS_ERR_SYNTAX);
    /* Exactly SAS_TOKEN_MAX is still accepted (the padding is an unknown field). */
    assert_int_equal(sas_parse(token, SAS_TOKEN_MAX, &tok), SAS_OK);
    /* sr one byte longer than its buffer can hold. */
    n = snprintf(token, sizeof(token), "SharedAccessSignature sig=x&se=1&sr=");
    memset(token + n, 'h', SAS_FIELD_MAX);
    token[n + SAS_FIELD_MAX] = '\0';
    assert_int_equal(parse(token, &tok), SAS_ERR_SYNTAX);
    token[n + SAS_FIELD_MAX - 1] = '\0';                  /* exactly fits */
    assert_int_equal(parse(token, &tok), SAS_ERR_SYNTAX); /* but the host is too long */
    /* se longer than its buffer. */
    n = snprintf(token, sizeof(token), "SharedAccessSignature sr=h&sig=x&se=");
    memset(token + n, '0', 40);
    token[n + 40] = '\0';
    assert_int_equal(parse(token, &tok), SAS_ERR_SYNTAX);
    /* sig and skn longer than their buffers. */
    n = snprintf(token, sizeof(token), "SharedAccessSignature sr=h&se=1&sig=");
    memset(token + n, 'A', SAS_FIELD_MAX);
    token[n + SAS_FIELD_MAX] = '\0';
    assert_int_equal(parse(token, &tok), SAS_ERR_SYNTAX);
    n = snprintf(token, sizeof(token), "SharedAccessSignature sr=h&se=1&sig=x&skn=");
    memset(token + n, 'A', SAS_FIELD_MAX);
    token[n + SAS_FIELD_MAX] = '\0';
    assert_int_equal(parse(token, &tok), SAS_ERR_SYNTAX);
}

static void test_long_path_fits(void **state)
{
    (void)state;
    static char token[SAS_TOKEN_MAX];
    struct sas_token tok;
    /* The longest sr that fits: a short host and a long path. */
    int n = snprintf(token, sizeof(token), "SharedAccessSignature sig=x&se=1&sr=h/");
    memset(token + n, 'p', SAS_FIELD_MAX - 3);
    token[n + SAS_FIELD_MAX - 3] = '\0';
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_int_equal(strlen(tok.path), SAS_FIELD_MAX - 3);
    assert_string_equal(tok.host, "h");
}

static void test_resource_split(void **state)
{
    (void)state;
    static const struct {
        const char *sr, *host, *path;
    } cases[] = {
        {"localhost", "localhost", ""},
        {"localhost%2Fdevices%2Fd1", "localhost", "devices/d1"},
        {"localhost/devices/d1/modules/m1", "localhost", "devices/d1/modules/m1"},
        {"sb%3A%2F%2Flocalhost%3A5671%2Fhub%2F", "localhost", "hub"},
        {"amqps://myhub.localhost:5671/devices/d1", "myhub.localhost", "devices/d1"},
        {"https://localhost/devices", "localhost", "devices"},
        {"SB://localhost/x", "localhost", "x"},
        {"localhost:443", "localhost", ""},
        {"%5B%3A%3A1%5D%3A5671/devices/d", "[::1]", "devices/d"},
        {"localhost/devices/a%252Fb", "localhost", "devices/a%2Fb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char token[256];
        snprintf(token, sizeof(token), "SharedAccessSignature sr=%s&sig=x&se=1", cases[i].sr);
        struct sas_token tok;
        assert_int_equal(parse(token, &tok), SAS_OK);
        assert_string_equal(tok.host, cases[i].host);
        assert_string_equal(tok.path, cases[i].path);
    }
}

static void test_c_sdk_raw_slash_sr(void **state)
{
    (void)state;
    /* C SDK HTTP: {host}/devices/{URL_Encode(deviceId)} with raw slashes; the signature is
     * over the sr exactly as sent, so re-encoding it would break verification. */
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    const char *sr_raw = "myhub.localhost/devices/dev%231";
    char sig[64], token[512];
    assert_int_equal(sas_signature(key, 32, sr_raw, VEC_SE, sig, sizeof(sig)), 44);
    /* lower-case hex, as C URL_Encode does */
    char enc[128];
    size_t o = 0;
    for (const char *p = sig; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02x", (unsigned char)*p);
        else
            enc[o++] = *p;
    }
    enc[o] = '\0';
    snprintf(token, sizeof(token), "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=", sr_raw, enc,
             VEC_SE);
    struct sas_token tok;
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_string_equal(tok.path, "devices/dev#1");
    assert_true(sas_verify(&tok, VEC_KEY, false));
}

/* ---- verification ---- */

static void test_wrong_key_fails(void **state)
{
    (void)state;
    struct sas_token tok;
    assert_int_equal(parse(NODE_DEVICE_TOKEN, &tok), SAS_OK);
    assert_false(sas_verify(&tok, OTHER_KEY, false));
    assert_false(sas_verify(&tok, OTHER_KEY, true));
    /* Keys that are no keys at all never verify. */
    assert_false(sas_verify(&tok, "", true));
    assert_false(sas_verify(&tok, "not base64!", false));
    assert_false(sas_verify(&tok, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", false));
}

static void test_tampered_token_fails(void **state)
{
    (void)state;
    static const char *const tampered[] = {
        /* other device */
        "SharedAccessSignature sr=localhost%2Fdevices%2Fdev2"
        "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5E%3D&se=1700000000",
        /* later expiry */
        "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1"
        "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5E%3D&se=1700000001",
        /* same resource, other encoding: the raw sr is what was signed */
        "SharedAccessSignature sr=localhost/devices/dev1"
        "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5E%3D&se=1700000000",
        /* truncated signature */
        "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1"
        "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5E&se=1700000000",
        /* one character changed */
        "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1"
        "&sig=Hw93slEtFrbgyUX77S%2F%2BSbvJmZKHRei4LjyPi1y%2BS5F%3D&se=1700000000",
    };
    for (size_t i = 0; i < sizeof(tampered) / sizeof(tampered[0]); i++) {
        struct sas_token tok;
        assert_int_equal(parse(tampered[i], &tok), SAS_OK);
        assert_false(sas_verify(&tok, VEC_KEY, true));
    }
}

static void test_empty_key_never_verifies(void **state)
{
    (void)state;
    /* A token signed with an empty HMAC key must not match an identity whose key is "". */
    char sig[64], token[256];
    static const uint8_t none[1];
    assert_int_equal(sas_signature(none, 0, "localhost", VEC_SE, sig, sizeof(sig)), 44);
    snprintf(token, sizeof(token), "SharedAccessSignature sr=localhost&sig=%s&se=%s", sig, VEC_SE);
    struct sas_token tok;
    /* unencoded '+', '/' and '=' are fine in sig */
    assert_int_equal(parse(token, &tok), SAS_OK);
    assert_false(sas_verify(&tok, "", true));
    assert_false(sas_verify(&tok, "", false));
}

/* ---- building ---- */

static void test_build_node_device_token(void **state)
{
    (void)state;
    char token[SAS_TOKEN_MAX];
    int n = sas_build("localhost/devices/dev1", VEC_KEY, NULL, 1700000000, token, sizeof(token));
    assert_int_equal(n, (int)strlen(NODE_DEVICE_TOKEN));
    assert_string_equal(token, NODE_DEVICE_TOKEN);
}

static void test_build_service_token(void **state)
{
    (void)state;
    char token[SAS_TOKEN_MAX];
    assert_true(sas_build("localhost", VEC_KEY, "iothubowner", 1700000000, token, sizeof(token)) >
                0);
    /* encodeURIComponent leaves no '/' in sr, and the Node order is sr, sig, skn, se. */
    assert_string_equal(token, "SharedAccessSignature sr=localhost"
                               "&sig=RwSH3Sy2HXb3ctSoWptFo5Mb2EMQ%2BN4HJSineMcimhs%3D"
                               "&skn=iothubowner&se=1700000000");
    /* An empty policy name is the same as none. */
    assert_true(sas_build("localhost", VEC_KEY, "", 1700000000, token, sizeof(token)) > 0);
    assert_null(strstr(token, "skn="));
}

static void test_build_parse_verify_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *resource, *policy;
    } cases[] = {
        {"localhost/devices/dev1", NULL},
        {"myhub.localhost/devices/d-._+%#*?!(),=@$'/modules/m1", NULL},
        {"sb://localhost/myhub/ConsumerGroups/$default/Partitions/0", "iothubowner"},
        {"localhost", "registry Read&Write=1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char token[SAS_TOKEN_MAX];
        int n = sas_build(cases[i].resource, OTHER_KEY, cases[i].policy, 4102444800, token,
                          sizeof(token));
        assert_true(n > 0);
        struct sas_token tok;
        assert_int_equal(sas_parse(token, (size_t)n, &tok), SAS_OK);
        assert_string_equal(tok.sr, cases[i].resource);
        assert_string_equal(tok.skn, cases[i].policy ? cases[i].policy : "");
        assert_true(tok.expiry == 4102444800);
        assert_true(sas_verify(&tok, OTHER_KEY, false));
        assert_false(sas_verify(&tok, VEC_KEY, true));
    }
}

static void test_build_errors(void **state)
{
    (void)state;
    char token[SAS_TOKEN_MAX];
    assert_int_equal(sas_build("localhost", "not base64", NULL, 1, token, sizeof(token)), -1);
    assert_int_equal(sas_build("localhost", "", NULL, 1, token, sizeof(token)), -1);
    assert_int_equal(sas_build("localhost", VEC_KEY, NULL, -1, token, sizeof(token)), -1);
    assert_int_equal(sas_build("", VEC_KEY, NULL, 1, token, sizeof(token)), -1);
    /* Output buffer one byte short. */
    int n = (int)strlen(NODE_DEVICE_TOKEN);
    assert_int_equal(
        sas_build("localhost/devices/dev1", VEC_KEY, NULL, 1700000000, token, (size_t)n), -1);
    assert_string_equal(token, "");
    assert_int_equal(
        sas_build("localhost/devices/dev1", VEC_KEY, NULL, 1700000000, token, (size_t)n + 1), n);
    /* A resource whose encoding does not fit a field. */
    static char resource[SAS_FIELD_MAX];
    memset(resource, '/', sizeof(resource) - 1);
    resource[sizeof(resource) - 1] = '\0';
    assert_int_equal(sas_build(resource, VEC_KEY, NULL, 1, token, sizeof(token)), -1);
}

/* ---- scope ---- */

static void test_path_covers(void **state)
{
    (void)state;
    assert_true(sas_path_covers("a/b", "a/b"));
    assert_true(sas_path_covers("a/b", "a/b/c"));
    assert_false(sas_path_covers("a/b", "a/bc"));
    assert_false(sas_path_covers("a/b", "a"));
    assert_false(sas_path_covers("a/b/c", "a/b"));
    assert_true(sas_path_covers("", "devices/d1"));
    assert_true(sas_path_covers("", ""));
    assert_false(sas_path_covers("devices/d1", ""));
    assert_true(sas_path_covers("devices", "devices/d1/modules/m1"));
    assert_true(sas_path_covers("devices/d1", "devices/d1/modules/m1"));
    assert_false(sas_path_covers("devices/d1", "devices/d10"));
    assert_false(sas_path_covers("devices/d1", "devices/D1")); /* case-sensitive */
    /* leading slashes and a trailing slash on the prefix do not matter */
    assert_true(sas_path_covers("/a/b", "/a/b/c"));
    assert_true(sas_path_covers("a/b/", "a/b/c"));
    assert_true(sas_path_covers("a/b/", "a/b"));
    assert_false(sas_path_covers("/a/b/", "/a/bc"));
    assert_true(sas_path_covers("/", "x"));
}

static void test_strerror(void **state)
{
    (void)state;
    static const int codes[] = {SAS_OK,         SAS_ERR_SYNTAX,   SAS_ERR_MISSING,
                                SAS_ERR_EXPIRY, SAS_ERR_ENCODING, 42};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_non_null(sas_strerror(codes[i]));
        assert_true(strlen(sas_strerror(codes[i])) > 0);
    }
    assert_string_not_equal(sas_strerror(SAS_ERR_SYNTAX), sas_strerror(SAS_ERR_MISSING));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_signatures),
        cmocka_unit_test(test_vector_node_device),
        cmocka_unit_test(test_vector_c_mqtt_device),
        cmocka_unit_test(test_vector_node_service),
        cmocka_unit_test(test_vector_event_hubs_key_text),
        cmocka_unit_test(test_real_node_capture),
        cmocka_unit_test(test_expiry_parse),
        cmocka_unit_test(test_empty_skn_is_absent),
        cmocka_unit_test(test_field_order_and_unknown_fields),
        cmocka_unit_test(test_value_split_at_first_equals),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bad_encodings),
        cmocka_unit_test(test_embedded_nul_and_length_bound),
        cmocka_unit_test(test_over_long_input),
        cmocka_unit_test(test_long_path_fits),
        cmocka_unit_test(test_resource_split),
        cmocka_unit_test(test_c_sdk_raw_slash_sr),
        cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_tampered_token_fails),
        cmocka_unit_test(test_empty_key_never_verifies),
        cmocka_unit_test(test_build_node_device_token),
        cmocka_unit_test(test_build_service_token),
        cmocka_unit_test(test_build_parse_verify_round_trip),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_path_covers),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
