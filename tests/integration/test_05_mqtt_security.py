"""05: the device MQTT endpoint under hostile and broken clients.

Every authentication failure is CONNACK 5 then a closed socket; bad client ids get 2, other
protocol levels 1. Publishing where a device may not, QoS 2, oversized messages and malformed
bytes close the connection and store nothing. Afterwards the hub still serves devices and
REST, and its log has no sanitizer reports (checked when the harness stops it)."""
import base64
import concurrent.futures
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import mqttraw  # noqa: E402
from hubtest import (IOTHUBD, SANITIZER_MARKERS, HubTestCase, create_device,  # noqa: E402
                     device_token, dump_events, events_by_device, sas_token, self_signed_cert)
from mqttraw import (ACCEPTED, BAD_PROTOCOL, ID_REJECTED, NOT_AUTHORIZED, Client,  # noqa: E402
                     Closed, connect_packet, device_username, open_device, publish_packet,
                     telemetry_topic)

KIB256 = 256 * 1024
WRONG_KEY = base64.b64encode(b"w" * 32).decode()


class MqttSecurity(HubTestCase):
    def setUp(self):
        super().setUp()
        self.a = create_device(self.hub, "sensor")
        self.b = create_device(self.hub, "sensor-b")

    # -- helpers ------------------------------------------------------------------------
    def client(self, port=8883, tls=True, timeout=10, certfile=None, keyfile=None):
        c = Client(port=port, ca_file=self.hub.ca_file, tls=tls, timeout=timeout,
                   certfile=certfile, keyfile=keyfile)
        self.addCleanup(c.close)
        return c

    def connected(self, dev, password=None, **kw):
        c, ack = open_device(self.hub, dev["deviceId"], password or device_token(dev), **kw)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED)
        return c

    def assertRefused(self, code, client_id, username=None, password=None, msg=None,
                      cert=None, **kw):
        """CONNECT gets CONNACK code (session present 0), then the socket closes. cert:
        (certificate file, key file) for TLS client authentication."""
        c = self.client(certfile=cert and cert[0], keyfile=cert and cert[1])
        ack = c.connect(client_id, username, password, **kw)
        self.assertEqual(ack.return_code, code, msg)
        self.assertFalse(ack.session_present, msg)
        took, extra = c.wait_closed(5)
        self.assertEqual(extra, [], msg)
        c.close()

    def assertClosedWithoutReply(self, c, timeout=5, msg=None):
        took, pkts = c.wait_closed(timeout)
        self.assertEqual([p for p in pkts if p.type != mqttraw.PINGRESP], [], msg)
        return took

    def assertHealthy(self):
        """A normal device still connects and publishes; REST still answers."""
        c = self.connected(self.a)
        c.publish_wait(telemetry_topic("sensor", "%24.mid=healthy"), b"ok")
        c.disconnect()
        st, _, dev = self.hub.request("GET", "/devices/sensor")
        self.assertEqual(st, 200, dev)

    def stop_and_dump(self):
        self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
        return events_by_device(dump_events(self.hub))

    # -- tests --------------------------------------------------------------------------
    def test_publishing_to_another_devices_topic_disconnects_and_stores_nothing(self):
        forbidden = [
            ("devices/sensor-b/messages/events/", 1),      # B's topic
            ("devices/sensor-b/messages/events/", 0),
            ("devices/sensor-b/messages/events/%24.mid=x", 1),
            ("devices/sensor-bX/messages/events/", 1),
            ("devices/sensorX/messages/events/", 1),       # A's id as a prefix
            ("devices/sensor/messages/eventsX", 1),        # unknown topics
            ("devices/sensor/messages/devicebound/", 1),
            ("devices//messages/events/", 1),
            ("foo/bar", 0),
            ("$iothub/unknown", 1),
        ]
        for topic, qos in forbidden:
            c = self.connected(self.a)
            c.publish(topic, b"should not be stored", qos=qos, packet_id=5 if qos else None)
            self.assertClosedWithoutReply(c, msg=topic)
            c.close()
        # B was never touched: it connects and nothing is stored for it or A.
        c = self.connected(self.b)
        self.assertTrue(c.is_open(2))
        c.disconnect()
        self.assertEqual(self.stop_and_dump(), {})

    def test_authentication_failures_get_connack_5_and_close(self):
        a, b = self.a, self.b
        user = device_username("sensor")
        now = int(time.time())
        disabled = create_device(self.hub, "off", status="disabled")
        registry_read = self.hub.policy("registryRead")["SharedAccessKey"]
        service = self.hub.policy("service")["SharedAccessKey"]
        device_pol = self.hub.policy("device")["SharedAccessKey"]
        cases = {
            "unknown device": ("ghost", device_username("ghost"),
                               sas_token("localhost/devices/ghost", WRONG_KEY)),
            "disabled device": ("off", device_username("off"), device_token(disabled)),
            "wrong key": ("sensor", user, sas_token("localhost/devices/sensor", WRONG_KEY)),
            "expired token": ("sensor", user, device_token(a, expiry=now - 5)),
            "another device's token": ("sensor", user, device_token(b)),
            "A's resource, B's key": ("sensor", user,
                                      sas_token("localhost/devices/sensor",
                                                b["authentication"]["symmetricKey"]
                                                ["primaryKey"])),
            "token for another host": ("sensor", user, device_token(a, host="otherhub.example")),
            "registryRead policy": ("sensor", user, sas_token("localhost/devices/sensor",
                                                              registry_read,
                                                              policy="registryRead")),
            "service policy": ("sensor", user, sas_token("localhost/devices/sensor", service,
                                                         policy="service")),
            "device policy, wrong key": ("sensor", user, sas_token("localhost/devices/sensor",
                                                                   WRONG_KEY, policy="device")),
            "device policy scoped to B": ("sensor", user, sas_token("localhost/devices/sensor-b",
                                                                    device_pol,
                                                                    policy="device")),
            "expired policy token": ("sensor", user, sas_token("localhost/devices/sensor",
                                                               device_pol, policy="device",
                                                               expiry=now - 5)),
            "unknown policy": ("sensor", user, sas_token("localhost/devices/sensor", device_pol,
                                                         policy="nosuchpolicy")),
            "garbage password": ("sensor", user, "not a token"),
            "empty password": ("sensor", user, ""),
            "missing password, no certificate": ("sensor", user, None),
            "no user name, no password": ("sensor", None, None),
            "user name names B": ("sensor", device_username("sensor-b"), device_token(a)),
            "user name for another hub": ("sensor", device_username("sensor",
                                                                    host="otherhub.example"),
                                          device_token(a)),
            "user name without device": ("sensor", "localhost", device_token(a)),
        }
        for name, (cid, username, password) in cases.items():
            with self.subTest(name):
                self.assertRefused(NOT_AUTHORIZED, cid, username, password, msg=name)
        # X.509: an unregistered certificate, a token for a certificate device, a certificate
        # for a key device.
        tmp = tempfile.mkdtemp(prefix="x509-", dir=os.path.dirname(self.hub.data_dir))
        good = self_signed_cert(tmp, "good")
        other = self_signed_cert(tmp, "other")
        create_device(self.hub, "x509dev", authentication={
            "type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": good[2],
                                                     "secondaryThumbprint": good[3]}})
        x509_cases = {
            "unregistered certificate": ("x509dev", None, other[:2]),
            "no certificate": ("x509dev", None, None),
            "SAS token for a certificate device": (
                "x509dev", sas_token("localhost/devices/x509dev", WRONG_KEY), good[:2]),
            "certificate for a key device": ("sensor", None, good[:2]),
        }
        for name, (cid, password, cert) in x509_cases.items():
            with self.subTest(name):
                self.assertRefused(NOT_AUTHORIZED, cid, device_username(cid), password,
                                   msg=name, cert=cert)
        c, ack = open_device(self.hub, "x509dev", None, certfile=good[0], keyfile=good[1])
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED, "the registered certificate")
        c.disconnect()
        # The right credentials still work, with either key.
        for which in ("primaryKey", "secondaryKey"):
            c = self.connected(a, password=device_token(a, which=which))
            self.assertTrue(c.is_open(2), which)
            c.disconnect()

    def test_bad_client_ids_and_protocol_levels(self):
        tok = device_token(self.a)
        for cid in ("", "bad id", "x" * 129, "sensor/child", "\u00e9t\u00e9"):
            with self.subTest(client_id=cid):
                self.assertRefused(ID_REJECTED, cid, device_username(cid or "x"), tok)
        for level in (3, 5):
            with self.subTest(level=level):
                self.assertRefused(BAD_PROTOCOL, "sensor", device_username("sensor"), tok,
                                   protocol_level=level)

    def test_qos2_and_malformed_publishes_disconnect_and_store_nothing(self):
        topic = telemetry_topic("sensor", "%24.mid=bad")
        bad = {
            "QoS 2": publish_packet(topic, b"x", qos=2, packet_id=9),
            "QoS 3 flags": bytes([0x36]) + publish_packet(topic, b"x", qos=1, packet_id=9)[1:],
            "packet id 0": publish_packet(topic, b"x", qos=1, packet_id=0),
            "wildcard in topic": publish_packet("devices/sensor/messages/events/#", b"x", qos=1,
                                                packet_id=3),
            "invalid UTF-8 topic": mqttraw.packet(mqttraw.PUBLISH, 0x02,
                                                  mqttraw.encode_string(topic.encode() +
                                                                        b"\xff\xfe") +
                                                  struct.pack("!H", 4) + b"x"),
            "NUL in topic": publish_packet(topic + "\u0000", b"x", qos=1, packet_id=4),
            "topic longer than the packet": bytes([0x32, 4, 0x00, 0x40, ord("d"), ord("e")]),
            "SUBSCRIBE with reserved flags 0": mqttraw.subscribe_packet(
                3, [("$iothub/twin/res/#", 1)], flags=0),
            "PUBREL": mqttraw.packet(mqttraw.PUBREL, 0x02, struct.pack("!H", 9)),
            "server-only CONNACK": mqttraw.packet(mqttraw.CONNACK, 0, b"\x00\x00"),
            "second CONNECT": connect_packet("sensor", device_username("sensor"),
                                             device_token(self.a)),
        }
        for name, data in bad.items():
            with self.subTest(name):
                c = self.connected(self.a)
                c.send(data)
                self.assertClosedWithoutReply(c, msg=name)
                c.close()
        self.assertEqual(self.stop_and_dump(), {})

    def test_message_size_limit(self):
        c = self.connected(self.a)
        # 256 KiB + 1 body, no properties: closed, no PUBACK.
        try:
            c.publish(telemetry_topic("sensor"), b"a" * (KIB256 + 1), qos=1)
        except Closed:
            pass
        self.assertClosedWithoutReply(c, 10, "256 KiB + 1")
        # Body and properties together count: 256 KiB - 4 body + "k"="vvvv" (5 bytes).
        c = self.connected(self.a)
        try:
            c.publish(telemetry_topic("sensor", "k=vvvv"), b"b" * (KIB256 - 4), qos=1)
        except Closed:
            pass
        self.assertClosedWithoutReply(c, 10, "body + properties over 256 KiB")
        # Exactly 256 KiB of body and no properties: accepted.
        c = self.connected(self.a)
        exact = bytes(range(256)) * 1024
        self.assertEqual(len(exact), KIB256)
        c.publish_wait(telemetry_topic("sensor"), exact, timeout=30)
        # A small one after it on the same connection.
        c.publish_wait(telemetry_topic("sensor", "%24.mid=after"), b"small")
        c.disconnect()
        got = self.stop_and_dump()
        self.assertEqual(list(got), ["sensor"])
        self.assertEqual([r["body"] for r in got["sensor"]], [exact, b"small"])
        self.assertEqual(got["sensor"][0]["app"], {})

    def test_application_property_limit(self):
        # 129 application properties: closed, no PUBACK, nothing stored.
        c = self.connected(self.a)
        bag129 = "&".join(f"p{i}=v" for i in range(129))
        try:
            c.publish(telemetry_topic("sensor", bag129), b"too many", qos=1)
        except Closed:
            pass
        self.assertClosedWithoutReply(c, 10, "129 application properties")
        # 128, plus system properties (which do not count): stored with all of them.
        c = self.connected(self.a)
        bag128 = "&".join(f"p{i}=v{i}" for i in range(128)) + "&%24.mid=m128&%24.ct=text%2Fplain"
        c.publish_wait(telemetry_topic("sensor", bag128), b"just enough")
        c.disconnect()
        got = self.stop_and_dump()
        self.assertEqual([r["body"] for r in got["sensor"]], [b"just enough"])
        self.assertEqual(got["sensor"][0]["app"], {f"p{i}": f"v{i}" for i in range(128)})

    def test_garbage_half_packets_and_silent_sockets(self):
        tok = device_token(self.a)
        connect = connect_packet("sensor", device_username("sensor"), tok)
        quick = {
            "garbage bytes": b"\x00\xff" * 100,
            "5-byte remaining length": b"\x10\xff\xff\xff\xff\x7f",
            "CONNECT of 100 MB announced": (b"\x10" + mqttraw.encode_remaining_length(10**8) +
                                            b"\x00\x04MQTT"),
            "PUBLISH before CONNECT": publish_packet(telemetry_topic("sensor"), b"x", qos=1,
                                                     packet_id=1),
            "PINGREQ before CONNECT": mqttraw.pingreq_packet(),
            # Not MQTT at all: the first byte already says so, no need to wait for a frame.
            "HTTP request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "wrong protocol name": connect_packet("sensor", device_username("sensor"), tok,
                                                  protocol_name="MQTX"),
            "reserved CONNECT flag": connect_packet("sensor", device_username("sensor"), tok,
                                                    reserved_flag=True),
            "CONNECT flags on the fixed header": bytes([0x11]) + connect[1:],
            "CONNECT cut inside its frame": mqttraw.packet(mqttraw.CONNECT, 0,
                                                           mqttraw.split_packet(connect)[1][:20]),
            "password flag without user name": (
                mqttraw.packet(mqttraw.CONNECT, 0, mqttraw.encode_string("MQTT") +
                               bytes([4, 0x42]) + struct.pack("!H", 60) +
                               mqttraw.encode_string("sensor") + mqttraw.encode_string(tok))),
        }
        for name, data in quick.items():
            with self.subTest(name):
                c = self.client()
                c.send(data)
                took, pkts = c.wait_closed(5)
                # A wrong protocol name may be answered with a refusing CONNACK first.
                self.assertEqual([p for p in pkts if not (p.type == mqttraw.CONNACK and
                                                          p.return_code != ACCEPTED and
                                                          name == "wrong protocol name")],
                                 [], name)
                self.assertLess(took, 5, name)

        # Slow ones in parallel: a silent TLS socket, a TCP socket that never starts TLS, a
        # half CONNECT, a CONNECT sent one byte a second (never completed in time).
        def silent_tls():
            c = self.client(timeout=20)
            return c.wait_closed(20)[0]

        def silent_tcp():
            with socket.create_connection(("localhost", 8883), timeout=20) as s:
                start = time.monotonic()
                try:
                    while s.recv(100):
                        pass
                except (ConnectionError, socket.timeout):
                    pass
                return time.monotonic() - start

        def half_connect():
            c = self.client(timeout=20)
            c.send(connect[:len(connect) // 2])
            return c.wait_closed(20)[0]

        def dribble():
            c = self.client(timeout=20)
            start = time.monotonic()
            for byte in connect[:20]:
                try:
                    c.send(bytes([byte]))
                    c.wait_closed(1.0)
                    break  # the hub closed it
                except TimeoutError:
                    pass  # still open: the next byte
                except Closed:
                    break
            return time.monotonic() - start

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futs = {name: pool.submit(fn) for name, fn in
                    (("silent TLS", silent_tls), ("silent TCP", silent_tcp),
                     ("half CONNECT", half_connect), ("dribbled CONNECT", dribble))}
            # Meanwhile the hub serves others.
            self.assertHealthy()
            for name, fut in futs.items():
                took = fut.result()
                self.assertGreater(took, 8, f"{name}: closed early")
                self.assertLess(took, 12.5, f"{name}: not closed within ~10 s")

        # TLS-level garbage: plain MQTT and random records on the TLS port.
        for data in (connect, b"\x16\x03\x01\x00\x05hello", b"\x00\xff" * 150):
            with socket.create_connection(("localhost", 8883), timeout=8) as s:
                s.sendall(data)
                try:
                    while s.recv(1000):
                        pass
                except ConnectionError:
                    pass
                except socket.timeout:
                    self.fail("the TLS port kept a garbage connection open")
        # A TLS connection closed mid-packet, and one reset.
        c = self.connected(self.a)
        c.send(publish_packet(telemetry_topic("sensor"), b"x" * 1000, qos=1, packet_id=2)[:300])
        c.close()
        c = self.connected(self.a)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

        self.assertHealthy()
        got = self.stop_and_dump()
        self.assertEqual(list(got), ["sensor"])
        self.assertEqual([r["system"]["message-id"] for r in got["sensor"]],
                         ["healthy", "healthy"])

    def test_keep_alive_is_enforced_at_one_and_a_half_times(self):
        idle = self.connected(self.a, keepalive=2)
        pinging = self.connected(self.b, keepalive=2)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            closed = pool.submit(idle.wait_closed, 10)
            start = time.monotonic()
            while time.monotonic() - start < 5:
                pinging.ping()
                time.sleep(0.8)
            took, pkts = closed.result()
        # Closed 3 s (1.5 x 2 s) after its last packet, the CONNECT.
        self.assertEqual(pkts, [])
        self.assertGreaterEqual(took, 2.5)
        self.assertLess(took, 4.5)
        self.assertTrue(pinging.is_open(2), "a device that pings stays connected")
        pinging.disconnect()

    def test_token_expiring_during_the_connection_closes_it(self):
        c = self.connected(self.a, password=device_token(self.a, expiry=int(time.time()) + 3))
        took, pkts = c.wait_closed(8)
        self.assertEqual(pkts, [])
        self.assertLess(took, 5)

    def test_mqtt_port_in_use_names_the_flag(self):
        # The running hub holds 8883; a second daemon (own data dir, other HTTPS port) must
        # fail cleanly: exit 1, the flag named, no leak reports.
        other = os.path.join(os.path.dirname(self.hub.data_dir), "second")
        for extra, flag in (([], "--mqtt-port"),
                            (["--mqtt-port", "18883", "--mqtt-plain-port", "8883"],
                             "--mqtt-plain-port")):
            with self.subTest(flag):
                res = subprocess.run([IOTHUBD, "--data-dir", other, "--https-port", "18443",
                                      *extra], capture_output=True, text=True, timeout=60)
                self.assertEqual(res.returncode, 1, res.stderr)
                self.assertIn(flag, res.stderr)
                self.assertIn("level=error", res.stderr)
                for marker in SANITIZER_MARKERS:
                    self.assertNotIn(marker, res.stderr)
        self.assertHealthy()

    def test_plain_port_is_off_by_default(self):
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("localhost", 1883), timeout=5).close()
        self.assertHealthy()


if __name__ == "__main__":
    unittest.main(verbosity=2)
