"""17: libiothub's device-side callbacks for C2D messages, direct methods and twins (issue 7),
through samples/device_callbacks.c (C, threaded client) and python/tests/device_callbacks.py
(the iothub_client module, the old Python SDK's API).

ScriptedHub plays the hub itself (TLS with a real iothubd's certificate, MQTT written here
from the spec) and checks the client's wire behaviour exactly: one SUBSCRIBE set (C2D at
QoS 1, methods and twin at QoS 0), the twin GET only after the twin response filter was
granted, the reported patch and its 204, PUBACK after ACCEPTED and REJECTED and none after
ABANDONED, the method response topic and body, and after a lost connection a new CONNECT,
the subscriptions again and a new GET (COMPLETE callback again).

RealHub runs the same programs against iothubd: a C2D message sent through the CLI (and its
Success feedback), a direct method invoked over REST, the twin read after connecting, a
desired patch (PATCH /twins) and reported properties that then show in GET /twins/{id}; and
an ABANDONED message that the hub delivers again to the program's next run."""
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import mqttraw as mq  # noqa: E402
from hubtest import (SANITIZER_MARKERS, Hub, HubTestCase, create_device,  # noqa: E402
                     device_key)

BUILD_DIR = os.environ.get("IOTHUB_BUILD_DIR", "build")
SOURCE_DIR = os.environ.get("IOTHUB_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLE = os.path.join(BUILD_DIR, "samples", "device_callbacks")
PY_DEVICE = os.path.join(SOURCE_DIR, "python", "tests", "device_callbacks.py")
MODULE_DIR = os.path.join(BUILD_DIR, "python")
PYTHON = os.environ.get("IOTHUB_PYTHON", "/usr/bin/python3")
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

C2D_BAG = ("%24.mid=c2d-msg-0001&%24.to=%2Fdevices%2F{d}%2Fmessages%2FdeviceBound&"
           "%24.ct=application%2Fjson&%24.ce=utf-8&%24.cid=c2d-corr-0001&iothub-ack=full&"
           "color=red&sp%20ace=a%26b")
FILTERS = {"devices/{d}/messages/devicebound/#": 1, "$iothub/methods/POST/#": 0,
           "$iothub/twin/res/#": 0, "$iothub/twin/PATCH/properties/desired/#": 0}
TWIN = {"desired": {"telemetryInterval": 10, "$version": 2}, "reported": {"$version": 1}}


def asan_runtime():
    """The ASan runtime the Python module needs preloaded, or None (uninstrumented build)."""
    if not os.path.isdir(MODULE_DIR):
        return None
    for f in os.listdir(MODULE_DIR):
        if f.startswith("iothub_client.") and f.endswith(".so"):
            out = subprocess.run(["ldd", os.path.join(MODULE_DIR, f)], capture_output=True,
                                 text=True).stdout
            m = re.search(r"libasan\.so[.\d]* => (\S+)", out)
            return m.group(1) if m else None
    return None


def fields(line):
    """{key: value} of the `key=value` words of a device's output line (the last key,
    properties=, takes the rest of the line)."""
    line, _, props = line.partition(" properties=")
    out = {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=(.*?)(?= \w+=|$)", line)}
    if _:
        out["properties"] = props
    return out


class Device:
    """A running device program (C sample or Python script) and the lines it printed."""

    def __init__(self, kind, env):
        e = dict(os.environ)
        e.update(env)
        e.setdefault("WAIT_S", "240")
        if kind == "c":
            argv = [SAMPLE]
        else:
            argv = [PYTHON, PY_DEVICE]
            e["PYTHONPATH"] = MODULE_DIR
            asan = asan_runtime()
            if asan:
                e.update(LD_PRELOAD=asan, PYTHONMALLOC="malloc",
                         ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
        self.kind = kind
        self.proc = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines, self.err = [], []
        self.cond = threading.Condition()
        self.pumps = [threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
                      for stream, sink in ((self.proc.stdout, self.lines),
                                           (self.proc.stderr, self.err))]
        for t in self.pumps:
            t.start()

    def _pump(self, stream, sink):
        for line in stream:
            with self.cond:
                sink.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, pattern, timeout=60, nth=1):
        """The nth output line matching pattern (regex search); fails after timeout or when
        the program exited without printing it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [line for line in self.lines if re.search(pattern, line)]
                if len(found) >= nth:
                    return found[nth - 1]
                exited = self.proc.poll() is not None
                left = deadline - time.monotonic()
                if left <= 0 or (exited and not self.cond.wait(1.0)):
                    raise AssertionError(
                        f"{self.kind} device: no line #{nth} matching {pattern!r}; output:\n" +
                        "\n".join(self.lines) + "\nstderr:\n" + "\n".join(self.err[-40:]))
                if not exited:
                    self.cond.wait(min(left, 0.5))

    def stop(self):
        """SIGTERM, then the exit code; fails on sanitizer reports or tracebacks."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.kind} device did not stop on SIGTERM")
        for t in self.pumps:
            t.join(10)  # they end at EOF
        self.proc.stdout.close()
        self.proc.stderr.close()
        err = "\n".join(self.err)
        for marker in SANITIZER_MARKERS + ("Traceback", "Exception ignored"):
            if marker in err:
                raise AssertionError(f"{marker} from the {self.kind} device:\n{err}")
        return rc


# -- a hub played by the test --------------------------------------------------------------
class HubConn:
    """One accepted device connection: reads client packets, answers PINGREQ and SUBSCRIBE
    itself (recording the filters) and keeps every other packet in `seen`."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()
        self.subscribed = []  # (filter, qos) in arrival order
        self.seen = []        # (type, packet) of everything read, in order
        self.sock.settimeout(1.0)

    def send(self, data):
        self.sock.sendall(data)

    def _packet(self, deadline):
        while True:
            if len(self.buf) >= 2:
                i, mult, length = 1, 1, 0
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + length:
                    first, body = self.buf[0], bytes(self.buf[i:i + length])
                    del self.buf[:i + length]
                    return first >> 4, first & 0x0F, body
            if time.monotonic() > deadline:
                raise AssertionError(f"no packet from the device; seen {self.seen}")
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise mq.Closed("device closed the connection")
            self.buf += data

    def read(self, timeout=60):
        """The next packet other than PINGREQ / SUBSCRIBE, as an mqttraw.Packet (PUBLISH,
        PUBACK...) or the raw (type, flags, body) for CONNECT / DISCONNECT."""
        deadline = time.monotonic() + timeout
        while True:
            ptype, flags, body = self._packet(deadline)
            if ptype == mq.PINGREQ:
                self.send(mq.packet(mq.PINGRESP, 0, b""))
                continue
            if ptype == mq.SUBSCRIBE:
                self.on_subscribe(flags, body)
                continue
            if ptype == mq.UNSUBSCRIBE:
                self.send(mq.packet(mq.UNSUBACK, 0, body[:2]))
                self.seen.append(("UNSUBSCRIBE", body))
                return ptype, flags, body
            if ptype in (mq.PUBLISH, mq.PUBACK):
                p = mq.Packet(ptype, flags, body)
                self.seen.append((mq.TYPE_NAMES[ptype], p))
                return p
            self.seen.append((mq.TYPE_NAMES.get(ptype, ptype), body))
            return ptype, flags, body

    def on_subscribe(self, flags, body):
        assert flags == 2, f"SUBSCRIBE flags {flags}"
        pid, pos, granted = struct.unpack("!H", body[:2])[0], 2, []
        while pos < len(body):
            n = struct.unpack("!H", body[pos:pos + 2])[0]
            topic = body[pos + 2:pos + 2 + n].decode()
            qos = body[pos + 2 + n]
            pos += 3 + n
            self.subscribed.append((topic, qos))
            granted.append(min(qos, 1))
        self.seen.append(("SUBSCRIBE", pid))
        self.send(mq.packet(mq.SUBACK, 0, struct.pack("!H", pid) + bytes(granted)))

    def expect_connect(self, device_id):
        ptype, flags, body = self.read()
        assert ptype == mq.CONNECT, f"expected CONNECT, got {ptype}"
        connect_flags = body[7]
        cid_len = struct.unpack("!H", body[10:12])[0]
        assert body[12:12 + cid_len].decode() == device_id
        assert not connect_flags & 0x02, "clean session must be 0"

    def publish(self, topic, payload=b"", qos=0, packet_id=None):
        self.send(mq.publish_packet(topic, payload, qos=qos, packet_id=packet_id))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ScriptedHubServer:
    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.lsock = socket.create_server(("", 8883), family=socket.AF_INET6,
                                          dualstack_ipv6=True)
        self.lsock.settimeout(60)

    def accept(self):
        raw, _ = self.lsock.accept()
        return HubConn(self.ctx.wrap_socket(raw, server_side=True))

    def close(self):
        self.lsock.close()


class ScriptedHub(unittest.TestCase):
    """The client library's wire behaviour against a hub played by the test."""

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(SAMPLE):
            raise AssertionError(f"{SAMPLE} is not built")
        # A real iothubd made the CA and the server certificate for localhost.
        cls.tls_hub = Hub().start()
        cls.tls_hub.stop()
        tls = os.path.join(cls.tls_hub.data_dir, "tls")
        cls.ca_file = os.path.join(tls, "ca.pem")
        cls.cert, cls.key = os.path.join(tls, "server.pem"), os.path.join(tls, "server.key")

    @classmethod
    def tearDownClass(cls):
        cls.tls_hub.cleanup()

    def setUp(self):
        self.server = ScriptedHubServer(self.cert, self.key)
        self.devices = []

    def tearDown(self):
        try:
            for d in self.devices:
                d.stop()
        finally:
            self.server.close()

    def start(self, kind, device_id, **env):
        e = {"DEVICE_CS": f"HostName=localhost;DeviceId={device_id};SharedAccessKey={KEY}",
             "IOTHUB_CA_FILE": self.ca_file, "REPORTED": '{"firmware":"1.2.3"}'}
        e.update(env)
        dev = Device(kind, e)
        self.devices.append(dev)
        return dev

    def connect_and_sync_twin(self, dev, device_id, session_present=False, c2d=True):
        """Accepts the device's connection, checks its subscriptions and answers its GET."""
        conn = self.server.accept()
        conn.expect_connect(device_id)
        conn.send(mq.packet(mq.CONNACK, 0, bytes([1 if session_present else 0, 0])))
        get = conn.read()
        self.assertIsInstance(get, mq.Packet, conn.seen)
        m = re.fullmatch(r"\$iothub/twin/GET/\?\$rid=(\d+)", get.topic)
        self.assertTrue(m, get.topic)
        self.assertEqual(get.qos, 0)
        self.assertIn(("$iothub/twin/res/#", 0), conn.subscribed,
                      "GET before the twin response subscription")
        want = {f.format(d=device_id): q for f, q in FILTERS.items()
                if c2d or "devicebound" not in f}
        self.assertEqual(dict(conn.subscribed), want)
        self.assertEqual(len(conn.subscribed), len(want), conn.subscribed)
        conn.publish(f"$iothub/twin/res/200/?$rid={m.group(1)}", json.dumps(TWIN))
        return conn

    def scenario(self, kind, device_id, disposition):
        dev = self.start(kind, device_id, C2D_DISPOSITION=disposition)
        conn = self.connect_and_sync_twin(dev, device_id)
        line = dev.wait_line(r"^TWIN COMPLETE ")
        self.assertEqual(json.loads(line.split(" ", 2)[2]), TWIN)

        # The reported patch, sent from the COMPLETE callback: left unanswered on this
        # connection, so the client must publish it again on the next one.
        rep = conn.read()
        m = re.fullmatch(r"\$iothub/twin/PATCH/properties/reported/\?\$rid=(\d+)", rep.topic)
        self.assertTrue(m, rep.topic)
        self.assertEqual(rep.qos, 0)
        self.assertEqual(json.loads(rep.payload), {"firmware": "1.2.3"})
        first_rid = m.group(1)

        # A C2D message, then a method call: callbacks run in order on one thread, so the
        # method's answer comes after the C2D callback returned (and its PUBACK, if any).
        conn.publish(f"devices/{device_id}/messages/devicebound/" + C2D_BAG.format(d=device_id),
                     '{"c2d":"hello"}', qos=1, packet_id=100)
        conn.publish("$iothub/methods/POST/reboot/?$rid=ab-1", '{"delay":5}')
        got = []
        while True:
            p = conn.read()
            got.append(p)
            if p.type == mq.PUBLISH:
                break
        self.assertEqual(p.topic, "$iothub/methods/res/200/?$rid=ab-1")
        self.assertEqual(json.loads(p.payload), {"method": "reboot", "echo": {"delay": 5}})
        acks = [q.packet_id for q in got if q.type == mq.PUBACK]
        self.assertEqual(acks, [] if disposition == "ABANDONED" else [100], conn.seen)
        c2d = fields(dev.wait_line(r"^C2D "))
        self.assertEqual(c2d["message_id"], "c2d-msg-0001")
        self.assertEqual(c2d["correlation_id"], "c2d-corr-0001")
        self.assertEqual(c2d["body"], '{"c2d":"hello"}')
        self.assertEqual(sorted(c2d["properties"].split(",")), ["color=red", "sp ace=a&b"])
        if kind == "c":
            self.assertEqual(c2d["ack"], "full")
        method = fields(dev.wait_line(r"^METHOD "))
        self.assertEqual(method, {"name": "reboot", "payload": '{"delay":5}'})

        # A desired-properties notification.
        patch = {"telemetryInterval": 30, "$version": 3}
        conn.publish("$iothub/twin/PATCH/properties/desired/?$version=3", json.dumps(patch))
        line = dev.wait_line(r"^TWIN PARTIAL ")
        self.assertEqual(json.loads(line.split(" ", 2)[2]), patch)

        if kind == "python":
            # Unsetting the message callback (from a method callback) unsubscribes C2D.
            conn.publish("$iothub/methods/POST/disableC2D/?$rid=ab-2", "null")
            p = conn.read()
            self.assertEqual(p.topic, "$iothub/methods/res/200/?$rid=ab-2")
            ptype, _, body = conn.read()
            self.assertEqual(ptype, mq.UNSUBSCRIBE, conn.seen)
            self.assertEqual(body[4:].decode(), f"devices/{device_id}/messages/devicebound/#")

        # The connection breaks: the client connects again, subscribes again (harmless with
        # a persistent session), reads the whole twin again; an abandoned message comes back.
        conn.close()
        conn = self.connect_and_sync_twin(dev, device_id, session_present=True,
                                          c2d=kind != "python")
        dev.wait_line(r"^TWIN COMPLETE ", nth=2)
        rep = conn.read()
        m = re.fullmatch(r"\$iothub/twin/PATCH/properties/reported/\?\$rid=(\d+)", rep.topic)
        self.assertTrue(m, rep.topic)
        self.assertNotEqual(m.group(1), first_rid)
        self.assertEqual(json.loads(rep.payload), {"firmware": "1.2.3"})
        conn.publish(f"$iothub/twin/res/204/?$rid={first_rid}")  # stale: ignored
        conn.publish(f"$iothub/twin/res/204/?$rid={m.group(1)}&$version=2")
        dev.wait_line(r"^REPORTED status=204$")
        if disposition == "ABANDONED":
            conn.publish(f"devices/{device_id}/messages/devicebound/%24.mid=again", "x", qos=1,
                         packet_id=100)
            dev.wait_line(r"^C2D message_id=again ")
        self.assertEqual(dev.stop(), 0)
        self.devices.remove(dev)
        self.assertEqual([line for line in dev.lines if line.startswith("REPORTED")],
                         ["REPORTED status=204"])
        # destroy sends DISCONNECT
        try:
            while True:
                p = conn.read(timeout=10)
                if isinstance(p, tuple) and p[0] == mq.DISCONNECT:
                    break
        except mq.Closed:
            self.fail("the client closed without DISCONNECT")
        conn.close()

    def test_c_sample_accepted(self):
        self.scenario("c", "cb-c-1", "ACCEPTED")

    def test_c_sample_abandoned(self):
        self.scenario("c", "cb-c-2", "ABANDONED")

    def test_python_module_rejected(self):
        if not os.path.isdir(MODULE_DIR):
            raise AssertionError(f"the Python modules are not built in {MODULE_DIR}")
        self.scenario("python", "cb-py-1", "REJECTED")


# -- against iothubd ---------------------------------------------------------------------------
class RealHub(HubTestCase):
    """The same programs against iothubd: C2D, a direct method, twin read, desired patch,
    reported properties."""

    def run_device(self, kind):
        dev_id = f"callbacks-{kind}"
        dev = create_device(self.hub, dev_id)
        reported = {"firmware": "2.0.0", "battery": {"level": 87}, "kind": kind}
        device = Device(kind, {
            "DEVICE_CS": f"HostName=localhost;DeviceId={dev_id};SharedAccessKey={device_key(dev)}",
            "IOTHUB_CA_FILE": self.hub.ca_file, "REPORTED": json.dumps(reported)})
        try:
            line = device.wait_line(r"^TWIN COMPLETE ")
            twin = json.loads(line.split(" ", 2)[2])
            self.assertIn("desired", twin)
            self.assertIn("reported", twin)
            device.wait_line(r"^REPORTED status=204$")
            st, _, body = self.hub.request("GET", f"/twins/{dev_id}")
            self.assertEqual(st, 200, body)
            for k, v in reported.items():
                self.assertEqual(body["properties"]["reported"][k], v, body)

            st, _, body = self.hub.request("PATCH", f"/twins/{dev_id}",
                                           {"properties": {"desired": {"interval": 30}}})
            self.assertEqual(st, 200, body)
            line = device.wait_line(r"^TWIN PARTIAL ")
            self.assertEqual(json.loads(line.split(" ", 2)[2])["interval"], 30)

            st, _, body = self.hub.request("POST", f"/twins/{dev_id}/methods",
                                           {"methodName": "reboot", "payload": {"delay": 5},
                                            "responseTimeoutInSeconds": 30})
            self.assertEqual(st, 200, body)
            self.assertEqual(body, {"status": 200,
                                    "payload": {"method": "reboot", "echo": {"delay": 5}}})
            fields_seen = fields(device.wait_line(r"^METHOD "))
            self.assertEqual(fields_seen["name"], "reboot")

            self.hub.cli("c2d", "send", dev_id, "--body", '{"c2d":"from the cloud"}',
                         "--message-id", f"c2d-{kind}", "--prop", "color=red", "--ack", "full")
            c2d = fields(device.wait_line(r"^C2D "))
            self.assertEqual(c2d["message_id"], f"c2d-{kind}")
            self.assertEqual(c2d["body"], '{"c2d":"from the cloud"}')
            self.assertIn("color=red", c2d["properties"].split(","))
            if kind == "c":
                self.assertEqual(c2d["ack"], "full")
            # ACCEPTED: PUBACK, so the hub completes the message and reports Success.
            res = self.hub.cli("c2d", "feedback", "--count", "1", "--timeout", "60", "--json")
            records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
            self.assertIn((f"c2d-{kind}", "Success", dev_id),
                          [(r["originalMessageId"], r["statusCode"], r["deviceId"])
                           for r in records], res.stdout)
        finally:
            rc = device.stop()
        self.assertEqual(rc, 0)

    def test_abandoned_message_comes_back(self):
        """ABANDONED sends no PUBACK: the hub delivers the message again on the next
        connection (here: the next run of the program, same persistent session)."""
        dev_id = "callbacks-abandon"
        dev = create_device(self.hub, dev_id)
        env = {"DEVICE_CS": f"HostName=localhost;DeviceId={dev_id};"
                            f"SharedAccessKey={device_key(dev)}",
               "IOTHUB_CA_FILE": self.hub.ca_file, "C2D_DISPOSITION": "ABANDONED"}
        first = Device("c", env)
        try:
            first.wait_line(r"^TWIN COMPLETE ")  # subscribed (the GET follows the SUBACK)
            self.hub.cli("c2d", "send", dev_id, "--body", "again", "--message-id", "m-1")
            first.wait_line(r"^C2D message_id=m-1 ")
        finally:
            self.assertEqual(first.stop(), 0)
        env["C2D_DISPOSITION"] = "ACCEPTED"
        second = Device("c", env)
        try:
            c2d = fields(second.wait_line(r"^C2D message_id=m-1 "))
            self.assertEqual(c2d["body"], "again")
        finally:
            self.assertEqual(second.stop(), 0)

    def test_c_sample(self):
        if not os.path.isfile(SAMPLE):
            raise AssertionError(f"{SAMPLE} is not built")
        self.run_device("c")

    def test_python_module(self):
        if not os.path.isdir(MODULE_DIR):
            raise AssertionError(f"the Python modules are not built in {MODULE_DIR}")
        self.run_device("python")


if __name__ == "__main__":
    unittest.main()
