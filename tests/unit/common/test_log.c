/* logfmt logging: value quoting, level names and filtering, and the line format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static const char *quote(const char *s)
{
    static char buf[256];
    return log_quote(s, buf, sizeof(buf));
}

static void test_quote_plain_values(void **state)
{
    (void)state;
    assert_string_equal(quote("abc"), "abc");
    assert_string_equal(quote("dev-1.x+y%z#@$'!*()"), "dev-1.x+y%z#@$'!*()");
    assert_string_equal(quote("a\\b"), "a\\b"); /* a backslash alone needs no quotes */
    assert_string_equal(quote("caf\xc3\xa9"), "caf\xc3\xa9");
}

static void test_quote_needs_quotes(void **state)
{
    (void)state;
    assert_string_equal(quote(""), "\"\"");
    assert_string_equal(quote(NULL), "\"\"");
    assert_string_equal(quote("https listener started"), "\"https listener started\"");
    assert_string_equal(quote("a=b"), "\"a=b\"");
    assert_string_equal(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_string_equal(quote("a b\\c"), "\"a b\\\\c\"");
    assert_string_equal(quote("line1\nline2"), "\"line1\\nline2\"");
    assert_string_equal(quote("a\rb\tc"), "\"a\\rb\\tc\"");
    assert_string_equal(quote("bell\x07"), "\"bell\\u0007\"");
    assert_string_equal(quote("del\x7f"), "\"del\\u007f\"");
}

static void test_quote_truncation(void **state)
{
    (void)state;
    char buf[8];
    /* Unquoted values are cut to fit. */
    assert_string_equal(log_quote("abcdefghij", buf, sizeof(buf)), "abcdefg");
    /* Quoted values keep their closing quote and never split an escape. */
    assert_string_equal(log_quote("a b c d e f", buf, sizeof(buf)), "\"a b c\"");
    assert_string_equal(log_quote("ab\"cd ef", buf, sizeof(buf)), "\"ab\\\"c\"");
    assert_string_equal(log_quote("abcd\"e f", buf, sizeof(buf)), "\"abcd\"");
    assert_string_equal(log_quote("a\x01 b", buf, sizeof(buf)), "\"a\"");
    assert_string_equal(log_quote("a b", buf, 3), "\"\"");
    assert_string_equal(log_quote("a b", buf, 2), "");
    assert_string_equal(log_quote("ab", buf, 1), "");
    buf[0] = 'x';
    log_quote("ab", buf, 0); /* writes nothing */
    assert_int_equal(buf[0], 'x');
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("info"), LOG_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_WARN);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("warning"), -1);
    assert_int_equal(log_level_parse("INFO"), -1);
    assert_int_equal(log_level_parse(""), -1);
}

/* Runs fn with stderr redirected to a temporary file and returns what was written. */
static const char *capture(void (*fn)(void))
{
    static char out[8192];
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof(out) - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void emit_sample(void)
{
    char q[64];
    log_set_level(LOG_INFO);
    log_info("https listener started", "port=%d", 443);
    log_debug("hidden", NULL);
    log_warn("device rejected", "device=%s reason=%s", log_quote("dev 1", q, sizeof(q)), "expired");
    log_error("plain", NULL);
    log_info("forged", "note=%s", "a\nts=x level=error msg=forged");
}

static void test_emit_format_and_filter(void **state)
{
    (void)state;
    const char *out = capture(emit_sample);
    /* Four lines; the debug one is filtered out. */
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    assert_int_equal(strncmp(out, "ts=", 3), 0);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(out[3 + 23], 'Z');
    assert_non_null(strstr(out, "Z level=info msg=\"https listener started\" port=443\n"));
    assert_non_null(strstr(out, " level=warn msg=\"device rejected\" device=\"dev 1\" "
                                "reason=expired\n"));
    assert_non_null(strstr(out, " level=error msg=plain\n"));
    assert_null(strstr(out, "hidden"));
    /* A raw newline in a field cannot start a line of its own. */
    assert_non_null(strstr(out, "note=a ts=x level=error msg=forged\n"));
}

static void emit_levels(void)
{
    log_set_level(LOG_ERROR);
    log_warn("w", NULL);
    log_error("e", NULL);
    log_set_level(LOG_DEBUG);
    log_debug("d", "k=%s", "v");
    log_set_level(LOG_INFO);
}

static void test_set_level(void **state)
{
    (void)state;
    const char *out = capture(emit_levels);
    assert_null(strstr(out, "msg=w"));
    assert_non_null(strstr(out, "level=error msg=e\n"));
    assert_non_null(strstr(out, "level=debug msg=d k=v\n"));
}

static void emit_long(void)
{
    static char big[6000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("long", "v=%s", big);
    log_info(big, NULL);
    log_info("after", NULL);
}

static void test_long_lines_are_cut(void **state)
{
    (void)state;
    const char *out = capture(emit_long);
    /* Each line ends in one newline and stays under 4 KiB. */
    const char *p = out;
    int lines = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(nl - p < 4096);
        assert_int_equal(strncmp(p, "ts=", 3), 0);
        p = nl + 1;
        lines++;
    }
    assert_int_equal(lines, 3);
    assert_non_null(strstr(out, "msg=after\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_plain_values),     cmocka_unit_test(test_quote_needs_quotes),
        cmocka_unit_test(test_quote_truncation),       cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_emit_format_and_filter), cmocka_unit_test(test_set_level),
        cmocka_unit_test(test_long_lines_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
