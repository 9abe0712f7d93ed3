#include "hub/tls/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/random.h"

#define CA_DAYS     3650
#define SERVER_DAYS 825

static void openssl_reason(char *err, size_t errlen, const char *what)
{
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    snprintf(err, errlen, "%s: %s", what, buf);
}

static EVP_PKEY *new_p256_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A new certificate with a random serial, subject CN=cn, valid from an hour ago (clock
 * skew) for `days`. */
static X509 *new_cert(const char *cn, EVP_PKEY *key, int days)
{
    X509 *cert = X509_new();
    if (!cert)
        return NULL;
    uint8_t serial[16];
    if (random_bytes(serial, sizeof(serial)) != 0)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
        BN_free(bn);
        goto fail;
    }
    BN_free(bn);
    if (!X509_set_version(cert, 2) || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) ||
        !X509_set_pubkey(cert, key))
        goto fail;
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"iothubd", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    return cert;
fail:
    X509_free(cert);
    return NULL;
}

static int write_key(const char *path, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int write_certs(const char *path, X509 *first, X509 *second)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, first) && (!second || PEM_write_X509(f, second));
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return cert;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return key;
}

static int create_ca(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    int rc = -1;
    EVP_PKEY *key = new_p256_key();
    X509 *cert = key ? new_cert("iothubd local CA", key, CA_DAYS) : NULL;
    if (!cert) {
        openssl_reason(err, errlen, "cannot create the CA key and certificate");
        goto out;
    }
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    if (add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
        !X509_sign(cert, key, EVP_sha256())) {
        openssl_reason(err, errlen, "cannot sign the CA certificate");
        goto out;
    }
    if (write_key(key_path, key) != 0 || write_certs(cert_path, cert, NULL) != 0) {
        snprintf(err, errlen, "cannot write %s or %s: %s", cert_path, key_path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* True when cert's SAN holds every name (DNS names, case-insensitive). */
static bool cert_covers(X509 *cert, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (X509_check_host(cert, names[i], 0, 0, NULL) != 1 &&
            X509_check_ip_asc(cert, names[i], 0) != 1)
            return false;
    return X509_cmp_time(X509_get0_notAfter(cert), NULL) > 0;
}

static bool looks_like_ip(const char *name)
{
    return strspn(name, "0123456789.") == strlen(name) || strchr(name, ':') != NULL;
}

static int create_server(const struct tls_paths *p, const char *ca_key_path,
                         const char *const *names, size_t count, char *err, size_t errlen)
{
    int rc = -1;
    X509 *ca = read_cert(p->ca_cert);
    EVP_PKEY *ca_key = read_key(ca_key_path);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if (!ca || !ca_key) {
        snprintf(err, errlen, "cannot read the hub CA from %s and %s", p->ca_cert, ca_key_path);
        goto out;
    }
    key = new_p256_key();
    cert = key ? new_cert(names[0], key, SERVER_DAYS) : NULL;
    if (!cert) {
        openssl_reason(err, errlen, "cannot create the server key and certificate");
        goto out;
    }
    char san[2048] = "IP:127.0.0.1,IP:::1";
    size_t used = strlen(san);
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(san + used, sizeof(san) - used, ",%s:%s",
                         looks_like_ip(names[i]) ? "IP" : "DNS", names[i]);
        if (n < 0 || (size_t)n >= sizeof(san) - used) {
            snprintf(err, errlen, "too many or too long host names for the certificate");
            goto out;
        }
        used += (size_t)n;
    }
    X509_set_issuer_name(cert, X509_get_subject_name(ca));
    if (add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") ||
        add_ext(cert, ca, NID_ext_key_usage, "serverAuth") ||
        add_ext(cert, ca, NID_subject_alt_name, san) || !X509_sign(cert, ca_key, EVP_sha256())) {
        openssl_reason(err, errlen, "cannot sign the server certificate");
        goto out;
    }
    /* The chain file carries the CA too, so clients that trust only the CA verify it. */
    if (write_key(p->server_key, key) != 0 || write_certs(p->server_cert, cert, ca) != 0) {
        snprintf(err, errlen, "cannot write %s or %s: %s", p->server_cert, p->server_key,
                 strerror(errno));
        goto out;
    }
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

int tls_certs_ensure(const char *tls_dir, const char *const *names, size_t name_count,
                     struct tls_paths *out, char *err, size_t errlen)
{
    if (mkdir(tls_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", tls_dir, strerror(errno));
        return -1;
    }
    char ca_key[4096];
    snprintf(out->ca_cert, sizeof(out->ca_cert), "%s/ca.pem", tls_dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", tls_dir);
    snprintf(out->server_cert, sizeof(out->server_cert), "%s/server.pem", tls_dir);
    snprintf(out->server_key, sizeof(out->server_key), "%s/server.key", tls_dir);

    if (access(out->ca_cert, R_OK) != 0 || access(ca_key, R_OK) != 0) {
        if (create_ca(out->ca_cert, ca_key, err, errlen) != 0)
            return -1;
        unlink(out->server_cert); /* issued by an older CA, if any */
    }
    X509 *server = read_cert(out->server_cert);
    bool reuse =
        server && access(out->server_key, R_OK) == 0 && cert_covers(server, names, name_count);
    X509_free(server);
    if (reuse)
        return 0;
    return create_server(out, ca_key, names, name_count, err, errlen);
}
