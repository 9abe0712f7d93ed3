"""01: zero-configuration start, certificates, policies, flags, signals."""
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import IOTHUBD, Hub, parse_connection_string, read_text  # noqa: E402

DEFAULT_POLICIES = ["iothubowner", "service", "device", "registryRead", "registryReadWrite"]


class Startup(unittest.TestCase):
    def setUp(self):
        self.hub = Hub()

    def tearDown(self):
        self.hub.cleanup()

    def test_first_start_creates_ca_policies_and_prints_connection_string(self):
        self.hub.start()
        cs = parse_connection_string(self.hub.connection_string)
        self.assertEqual(cs["HostName"], "localhost")
        self.assertEqual(cs["SharedAccessKeyName"], "iothubowner")
        self.assertEqual(len(cs["SharedAccessKey"]), 44)
        self.assertEqual(self.hub.ca_file, os.path.join(self.hub.data_dir, "tls", "ca.pem"))
        self.assertTrue(os.path.exists(self.hub.ca_file))

        # The server certificate is ECDSA P-256, for localhost, and chains to the CA.
        ctx = self.hub.ssl_context()
        with socket.create_connection(("localhost", 443)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                cert = tls.getpeercert()
                self.assertIn(("DNS", "localhost"), cert["subjectAltName"])
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        pem = read_text(os.path.join(self.hub.data_dir, "tls", "server.pem"))
        text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem,
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("prime256v1", text)

        keys = set()
        for name in DEFAULT_POLICIES:
            pol = self.hub.policy(name)  # works while the daemon runs
            self.assertEqual(pol["SharedAccessKeyName"], name)
            keys.add(pol["SharedAccessKey"])
        self.assertEqual(len(keys), 5, "every policy has its own random key")
        self.assertEqual(self.hub.stop(), 0)

    def test_restart_reuses_ca_and_keys(self):
        self.hub.start()
        cs1 = self.hub.connection_string
        ca1 = read_text(self.hub.ca_file)
        self.assertEqual(self.hub.stop(), 0)
        self.hub.start()
        self.assertEqual(self.hub.connection_string, cs1)
        self.assertEqual(read_text(self.hub.ca_file), ca1)
        self.assertEqual(self.hub.stop(), 0)

    def test_hostname_flag_is_remembered_and_in_the_certificate(self):
        self.hub.args = ["--hostname", "myhub.localhost"]
        self.hub.start()
        self.assertEqual(parse_connection_string(self.hub.connection_string)["HostName"],
                         "myhub.localhost")
        self.assertEqual(self.hub.stop(), 0)
        self.hub.args = []
        self.hub.start()
        self.assertIn("HostName=myhub.localhost;", self.hub.connection_string)
        ctx = ssl.create_default_context(cafile=self.hub.ca_file)
        with socket.create_connection(("127.0.0.1", 443)) as raw:
            with ctx.wrap_socket(raw, server_hostname="myhub.localhost") as tls:
                self.assertIsNotNone(tls.getpeercert())
        self.assertEqual(self.hub.stop(), 0)

    def test_bring_your_own_certificate(self):
        tls = os.path.join(os.path.dirname(self.hub.data_dir), "own-tls")
        os.makedirs(tls)
        cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.hub.args = ["--tls-cert", cert, "--tls-key", key]
        self.hub.start()
        # The hub serves exactly that certificate and generates no CA of its own.
        self.assertIsNone(self.hub.ca_file)
        self.assertFalse(os.path.exists(os.path.join(self.hub.data_dir, "tls", "ca.pem")))
        ctx = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("localhost", 443)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as conn:
                served = ssl.DER_cert_to_PEM_cert(conn.getpeercert(binary_form=True))
        self.assertEqual(served.strip(), read_text(cert).strip())
        self.assertEqual(self.hub.stop(), 0)
        # Half a pair is a usage error; a key that does not match is refused at start.
        res = subprocess.run([IOTHUBD, "--data-dir", self.hub.data_dir, "--tls-cert", cert],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", os.path.join(tls, "other.pem")], check=True)
        res = subprocess.run([IOTHUBD, "--data-dir", self.hub.data_dir, "--tls-cert", cert,
                              "--tls-key", os.path.join(tls, "other.pem")],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 1)
        self.assertIn("cannot use the TLS key", res.stderr)

    def test_sigint_stops_cleanly(self):
        self.hub.start()
        self.assertEqual(self.hub.stop(sig=signal.SIGINT), 0)
        self.assertTrue(any("hub stopped" in line for line in self.hub.stderr_lines))

    def test_sigterm_right_after_a_burst_of_connections(self):
        # A burst of accepts arms a heap-trim timer on each network thread; stopping the
        # hub within its quiet second, with the connections still open, once crashed the
        # teardown (the timer lived in the exited thread's storage).
        self.hub.start()
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection(("localhost", 8883), timeout=10))
            time.sleep(0.2)  # accepted by now; the trim waits for 1 s of quiet
            self.assertEqual(self.hub.stop(), 0)
        finally:
            for s in socks:
                s.close()

    def test_port_in_use_names_the_flag(self):
        with socket.socket(socket.AF_INET6) as blocker:
            blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            blocker.bind(("::", 18443))
            blocker.listen()
            res = subprocess.run([IOTHUBD, "--data-dir", self.hub.data_dir, "--https-port",
                                  "18443"], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 1)
        self.assertIn("--https-port", res.stderr)
        self.assertIn("level=error", res.stderr)

    def test_second_daemon_on_same_data_dir_is_refused(self):
        self.hub.start()
        res = subprocess.run([IOTHUBD, "--data-dir", self.hub.data_dir, "--https-port",
                              "18443"], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 1)
        self.assertIn("another iothubd is running", res.stderr)
        self.assertEqual(self.hub.stop(), 0)

    def test_unknown_policy_and_bad_flags(self):
        self.hub.start()
        res = subprocess.run([IOTHUBD, "--data-dir", self.hub.data_dir,
                              "--print-connection-string", "nosuchpolicy"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 1)
        self.assertIn("nosuchpolicy", res.stderr)
        self.assertEqual(self.hub.stop(), 0)
        res = subprocess.run([IOTHUBD, "--https-port", "99999"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("--https-port", res.stderr)
        res = subprocess.run([IOTHUBD, "--no-such-flag"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        res = subprocess.run([IOTHUBD, "--help"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 0)
        for flag in ("--data-dir", "--hostname", "--https-port", "--tls-cert",
                     "--print-connection-string"):
            self.assertIn(flag, res.stdout)

    def test_logs_are_logfmt_and_hold_no_keys(self):
        self.hub.start()
        key = parse_connection_string(self.hub.connection_string)["SharedAccessKey"]
        self.hub.request("GET", "/devices/nope")
        self.hub.request("GET", "/devices", token="SharedAccessSignature sr=x&sig=y&se=1")
        self.assertEqual(self.hub.stop(), 0)
        self.assertTrue(self.hub.stderr_lines)
        for line in self.hub.stderr_lines:
            self.assertRegex(line, r"^ts=\S+ level=(debug|info|warn|error) msg=")
            self.assertNotIn(key, line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
