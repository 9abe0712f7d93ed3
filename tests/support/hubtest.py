"""Test harness: runs the real iothubd and talks to it over real TLS.

Tests run inside a private network namespace (tests/support/netns-run), so the hub takes
the standard ports the SDKs dial. The SAS code here is written independently of the hub's C
code, from the spec, so the two check each other.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

IOTHUBD = os.environ.get("IOTHUBD", "build/iothubd")
IOTHUB = os.environ.get("IOTHUB", "build/iothub")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def sas_token(resource, key_b64, policy=None, expiry=None, encode_sr=True):
    """A SharedAccessSignature token the way the Node SDKs make one."""
    if expiry is None:
        expiry = int(time.time()) + 3600
    sr = urllib.parse.quote(resource, safe="") if encode_sr else resource
    to_sign = f"{sr}\n{expiry}".encode()
    sig = base64.b64encode(hmac.new(base64.b64decode(key_b64), to_sign, hashlib.sha256).digest())
    token = f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(sig.decode(), safe='')}&se={expiry}"
    if policy:
        token += f"&skn={policy}"
    return token


def read_text(path):
    with open(path) as f:
        return f.read()


def parse_connection_string(cs):
    return dict(part.split("=", 1) for part in cs.strip().split(";") if part)


class Hub:
    """One iothubd process with its own data directory."""

    def __init__(self, data_dir=None, args=(), https_port=443):
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="iothubd-test-")
            data_dir = self._tmp.name + "/data"
        self.data_dir = data_dir
        self.args = list(args)
        self.https_port = https_port
        self.proc = None
        self.stdout_lines = []
        self.stderr_lines = []
        self.connection_string = None
        self.ca_file = None

    # -- process control ------------------------------------------------------------
    def start(self, timeout=30):
        cmd = [IOTHUBD, "--data-dir", self.data_dir, "--https-port", str(self.https_port)]
        self.proc = subprocess.Popen(cmd + self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.stdout_lines, self.stderr_lines = [], []
        ready = threading.Event()

        def pump(stream, sink, watch):
            for line in stream:
                sink.append(line.rstrip("\n"))
                if watch and line.startswith("Service REST API:"):
                    ready.set()
            ready.set()  # EOF: the process ended

        threading.Thread(target=pump, args=(self.proc.stdout, self.stdout_lines, True),
                         daemon=True).start()
        threading.Thread(target=pump, args=(self.proc.stderr, self.stderr_lines, False),
                         daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise AssertionError("iothubd did not start:\n" + "\n".join(self.stderr_lines))
        out = "\n".join(self.stdout_lines)
        self.connection_string = re.search(r"^\s*(HostName=\S+)$", out, re.M).group(1)
        ca = re.search(r"CA certificate for clients to trust:\n\s*(\S+)", out)
        self.ca_file = ca.group(1) if ca else None
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the hub and returns its exit code; checks the log for sanitizer reports."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("iothubd did not stop within %ss of %s" % (timeout, sig))
        time.sleep(0.1)  # let the pump threads drain
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None
        self.assert_clean_log()
        return rc

    def assert_clean_log(self):
        for line in self.stderr_lines:
            for marker in SANITIZER_MARKERS:
                if marker in line:
                    raise AssertionError("sanitizer report in iothubd's log:\n" +
                                         "\n".join(self.stderr_lines))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._tmp:
            self._tmp.cleanup()

    # -- credentials ------------------------------------------------------------------
    def policy(self, name="iothubowner"):
        out = subprocess.run([IOTHUBD, "--data-dir", self.data_dir,
                              "--print-connection-string", name],
                             capture_output=True, text=True, check=True).stdout
        return parse_connection_string(out)

    def token(self, policy="iothubowner", **kw):
        cs = self.policy(policy)
        return sas_token(cs["HostName"], cs["SharedAccessKey"], policy=policy,
                         encode_sr=False, **kw)

    # -- raw HTTPS --------------------------------------------------------------------
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def connection(self, host="localhost"):
        return http.client.HTTPSConnection(host, self.https_port, context=self.ssl_context(),
                                           timeout=30)

    def request(self, method, path, body=None, token=None, headers=None, conn=None,
                policy="iothubowner"):
        """Returns (status, headers dict with lower-case names, parsed JSON or raw bytes)."""
        own = conn is None
        conn = conn or self.connection()
        hdrs = {"Authorization": token if token is not None else self.token(policy)}
        if token == "":
            del hdrs["Authorization"]
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        hdrs.update(headers or {})
        sep = "&" if "?" in path else "?"
        conn.request(method, f"{path}{sep}api-version=2021-04-12", body=body, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        rheaders = {k.lower(): v for k, v in resp.getheaders()}
        if own:
            conn.close()
        data = raw
        if raw and "application/json" in rheaders.get("content-type", ""):
            data = json.loads(raw)
        return resp.status, rheaders, data

    # -- the CLI ----------------------------------------------------------------------
    def cli(self, *args, check=True, env=None):
        e = dict(os.environ)
        e["IOTHUB_CONNECTION_STRING"] = self.connection_string
        e["IOTHUB_CA_FILE"] = self.ca_file
        e.update(env or {})
        res = subprocess.run([IOTHUB, *args], capture_output=True, text=True, env=e, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"iothub {' '.join(args)} exited {res.returncode}:\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res


class HubTestCase(unittest.TestCase):
    """Starts a fresh hub for each test; stops it and checks its log afterwards."""

    hub_args = ()

    def setUp(self):
        self.hub = Hub(args=self.hub_args).start()

    def tearDown(self):
        try:
            if self.hub.proc:
                self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
        finally:
            self.hub.cleanup()

    def assertHubError(self, result, status, code):
        st, headers, body = result
        self.assertEqual(st, status, body)
        self.assertEqual(headers.get("iothub-errorcode"), code)
        self.assertTrue(body["Message"].startswith(f"ErrorCode:{code};"), body)
        self.assertIn("application/json", headers.get("content-type", ""))


# -- device telemetry (MQTT) helpers --------------------------------------------------------
# Added for the MQTT tests; nothing above depends on them.

def dump_events(hub):
    """Every stored telemetry record (iothubd --dump-events; the daemon must be stopped), as
    dicts with "body" (bytes) added beside body_base64."""
    res = subprocess.run([IOTHUBD, "--data-dir", hub.data_dir, "--dump-events"],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError(f"iothubd --dump-events exited {res.returncode}:\n{res.stderr}")
    for marker in SANITIZER_MARKERS:
        if marker in res.stderr:
            raise AssertionError("sanitizer report from iothubd --dump-events:\n" + res.stderr)
    records = []
    for line in res.stdout.splitlines():
        if line.strip():
            rec = json.loads(line)
            rec["body"] = base64.b64decode(rec["body_base64"])
            records.append(rec)
    return records


def events_by_device(records):
    """{device id: [records in (partition, seq) order]}."""
    out = {}
    for rec in sorted(records, key=lambda r: (r["partition"], r["seq"])):
        out.setdefault(rec["system"]["iothub-connection-device-id"], []).append(rec)
    return out


def create_device(hub, device_id, **body):
    """PUT /devices/{id}; returns the device JSON (asserts 200)."""
    body.setdefault("deviceId", device_id)
    st, _, dev = hub.request("PUT", "/devices/" + urllib.parse.quote(device_id, safe=""), body)
    if st != 200:
        raise AssertionError(f"creating device {device_id}: {st} {dev}")
    return dev


def device_key(dev, which="primaryKey"):
    return dev["authentication"]["symmetricKey"][which]


def device_token(dev, host="localhost", which="primaryKey", **kw):
    """A device SAS token (the MQTT password) for dev, signed with its own key."""
    return sas_token(f"{host}/devices/{dev['deviceId']}", device_key(dev, which), **kw)


def self_signed_cert(directory, name):
    """A self-signed EC P-256 client certificate made with openssl: returns (cert path, key
    path, SHA-1 thumbprint, SHA-256 thumbprint), thumbprints in upper-case hex as the Azure
    tools print them."""
    cert = os.path.join(directory, f"{name}.pem")
    key = os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(read_text(cert))
    return (cert, key, hashlib.sha1(der).hexdigest().upper(),
            hashlib.sha256(der).hexdigest().upper())
