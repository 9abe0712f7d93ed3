"""`iothub c2d send` and `iothub c2d feedback` against the real iothubd (spec 5.3, 2.8, 6.1).

The CLI talks AMQP to the hub's IoT hub endpoint (TLS, no SASL, CBS put-token, sender on
/messages/devicebound, receiver on /messages/serviceBound/feedback); the device side is the
raw MQTT client of tests/support/mqttraw.py, so the two ends are independent of each other.
"""
import json
import os
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))

from hubtest import HubTestCase, create_device, device_token, self_signed_cert  # noqa: E402
from mqttraw import PUBLISH, open_device, puback_packet  # noqa: E402

EXIT_UNAUTHORIZED, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_UNREACHABLE, EXIT_BAD_REQUEST = 3, 4, 5, 6, 7


def c2d_filter(device_id):
    return f"devices/{device_id}/messages/devicebound/#"


def split_bag(topic, device_id):
    """The property bag of a C2D topic as [(raw key, raw value)] in wire order, and decoded
    as a dict (spec 2.8: keys and values percent-encoded)."""
    prefix = f"devices/{device_id}/messages/devicebound/"
    assert topic.startswith(prefix), topic
    raw = []
    for part in topic[len(prefix):].split("&"):
        if part:
            k, _, v = part.partition("=")
            raw.append((k, v))
    decoded = {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in raw}
    return raw, decoded


class C2dCliTest(HubTestCase):
    def connect_device(self, device_id):
        dev = create_device(self.hub, device_id)
        client, ack = open_device(self.hub, device_id, device_token(dev), timeout=30)
        self.addCleanup(client.close)
        self.assertEqual(ack.return_code, 0)
        self.assertEqual(client.subscribe([(c2d_filter(device_id), 1)]), [1])
        return client

    def receive_c2d(self, client):
        p = client.read_packet(timeout=30)
        self.assertEqual(p.type, PUBLISH, p)
        self.assertEqual(p.qos, 1)
        return p

    def test_send_to_mqtt_device_and_feedback(self):
        device = self.connect_device("c2d-dev")
        res = self.hub.cli("c2d", "send", "c2d-dev", "--body", "reboot now", "--ack", "full",
                           "--message-id", "cli-msg-1", "--correlation-id", "corr-1",
                           "--prop", "color=red", "--prop", "a b=c&d/\u00e9",
                           "--content-type", "text/plain", "--content-encoding", "utf-8")
        self.assertEqual(res.stdout.strip(), "cli-msg-1")

        p = self.receive_c2d(device)
        self.assertEqual(p.payload, b"reboot now")
        raw, bag = split_bag(p.topic, "c2d-dev")
        raw_keys = [k for k, _ in raw]
        # System keys in their encoded spelling (the C SDK recognises only that), application
        # properties with every byte outside A-Z a-z 0-9 - . _ ~ escaped.
        self.assertIn(("%24.mid", "cli-msg-1"), raw)
        self.assertIn(("%24.to", "%2Fdevices%2Fc2d-dev%2Fmessages%2FdeviceBound"), raw)
        self.assertIn(("%24.cid", "corr-1"), raw)
        self.assertIn(("%24.ct", "text%2Fplain"), raw)
        self.assertIn(("%24.ce", "utf-8"), raw)
        self.assertIn(("iothub-ack", "full"), raw)
        self.assertIn(("color", "red"), raw)
        self.assertIn(("a%20b", "c%26d%2F%C3%A9"), raw)
        self.assertNotIn("$.mid", raw_keys)
        self.assertEqual(bag["a b"], "c&d/\u00e9")
        device.send(puback_packet(p.packet_id))

        res = self.hub.cli("--json", "c2d", "feedback", "--count", "1", "--timeout", "45")
        records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        self.assertGreaterEqual(len(records), 1, res.stdout)
        mine = [r for r in records if r["originalMessageId"] == "cli-msg-1"]
        self.assertEqual(len(mine), 1, records)
        self.assertEqual(mine[0]["statusCode"], "Success")
        self.assertEqual(mine[0]["deviceId"], "c2d-dev")
        self.assertTrue(mine[0]["enqueuedTimeUtc"], mine[0])

        # The feedback message was accepted: it is not delivered a second time.
        res = self.hub.cli("c2d", "feedback", "--timeout", "3")
        self.assertNotIn("cli-msg-1", res.stdout)

        # For people: one line per record, the original message id first.
        device.ping()  # the device stays connected (keep-alive) through the feedback waits
        self.hub.cli("c2d", "send", "c2d-dev", "--body", "again", "--ack", "positive",
                     "--message-id", "cli-msg-2")
        p = self.receive_c2d(device)
        device.send(puback_packet(p.packet_id))
        res = self.hub.cli("c2d", "feedback", "--count", "1", "--timeout", "45")
        lines = [line for line in res.stdout.splitlines() if line.startswith("cli-msg-2 ")]
        self.assertEqual(len(lines), 1, res.stdout)
        self.assertEqual(lines[0].split("  ")[:3], ["cli-msg-2", "Success", "c2d-dev"])

    def test_generated_message_id_reaches_the_device(self):
        # '@' and '=' are percent-encoded in the AMQP `to` (the hub decodes them) and raw in
        # the MQTT topic (spec 0.3).
        dev_id = "c2d-uuid@x=1"
        device = self.connect_device(dev_id)
        res = self.hub.cli("--json", "c2d", "send", dev_id, "--body", "{\"x\":1}")
        sent = json.loads(res.stdout)
        self.assertEqual(sent["deviceId"], dev_id)
        self.assertRegex(sent["messageId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                            r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        p = self.receive_c2d(device)
        _, bag = split_bag(p.topic, dev_id)
        self.assertEqual(bag["$.mid"], sent["messageId"])
        self.assertEqual(bag["$.to"], f"/devices/{dev_id}/messages/deviceBound")
        self.assertNotIn("iothub-ack", bag)
        self.assertEqual(p.payload, b"{\"x\":1}")
        device.send(puback_packet(p.packet_id))

    def test_body_file_bytes_arrive_unchanged(self):
        device = self.connect_device("c2d-file")
        body = bytes(range(256)) * 4
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            self.hub.cli("c2d", "send", "c2d-file", "--body-file", f.name)
        p = self.receive_c2d(device)
        self.assertEqual(p.payload, body)
        device.send(puback_packet(p.packet_id))

    def test_unknown_device_is_exit_4(self):
        res = self.hub.cli("c2d", "send", "no-such-device", "--body", "x", check=False)
        self.assertEqual(res.returncode, EXIT_NOT_FOUND, res.stderr)
        self.assertIn("amqp:not-found", res.stderr)
        self.assertEqual(res.stdout, "")

    def test_oversized_body_is_exit_7(self):
        create_device(self.hub, "c2d-big")
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x" * (64 * 1024 + 1))
            f.flush()
            res = self.hub.cli("c2d", "send", "c2d-big", "--body-file", f.name, check=False)
        self.assertEqual(res.returncode, EXIT_BAD_REQUEST, res.stderr)
        self.assertIn("amqp:link:message-size-exceeded", res.stderr)

    def test_51st_queued_message_is_exit_5(self):
        create_device(self.hub, "c2d-full")  # never connects: everything stays queued
        for i in range(50):
            self.hub.cli("c2d", "send", "c2d-full", "--body", f"m{i}")
        res = self.hub.cli("c2d", "send", "c2d-full", "--body", "one too many", check=False)
        self.assertEqual(res.returncode, EXIT_CONFLICT, res.stderr)
        self.assertIn("amqp:resource-limit-exceeded", res.stderr)

    def test_untrusted_certificate_is_exit_6(self):
        with tempfile.TemporaryDirectory() as d:
            other_ca, _, _, _ = self_signed_cert(d, "not-the-hubs-ca")
            res = self.hub.cli("c2d", "send", "whatever", "--body", "x", check=False,
                               env={"IOTHUB_CA_FILE": other_ca})
        self.assertEqual(res.returncode, EXIT_UNREACHABLE, res.stderr)
        self.assertIn("certificate verify failed", res.stderr)

    def test_wrong_key_and_missing_right_are_exit_3(self):
        create_device(self.hub, "c2d-auth")
        cs = dict(p.split("=", 1) for p in self.hub.connection_string.split(";"))
        wrong = (f"HostName={cs['HostName']};SharedAccessKeyName={cs['SharedAccessKeyName']};"
                 f"SharedAccessKey={'A' * 43}=")
        res = self.hub.cli("c2d", "send", "c2d-auth", "--body", "x", "--login", wrong,
                           check=False)
        self.assertEqual(res.returncode, EXIT_UNAUTHORIZED, res.stderr)
        # registryRead has no ServiceConnect (spec 1.7).
        reader = self.hub.policy("registryRead")
        login = ";".join(f"{k}={v}" for k, v in reader.items())
        res = self.hub.cli("c2d", "feedback", "--timeout", "2", "--login", login, check=False)
        self.assertEqual(res.returncode, EXIT_UNAUTHORIZED, res.stderr)

    def test_usage_errors_are_exit_2(self):
        for args in (["c2d", "send"], ["c2d", "send", "d", "--body", "x", "--body-file", "f"],
                     ["c2d", "send", "d", "--prop", "novalue"],
                     ["c2d", "send", "d", "--prop", "iothub-ack=full"],
                     ["c2d", "send", "d", "--ack", "sometimes"],
                     ["c2d", "send", "d", "--prop", "k=1", "--prop", "k=2"],
                     ["c2d", "feedback", "extra"]):
            res = self.hub.cli(*args, check=False)
            self.assertEqual(res.returncode, 2, (args, res.stderr))


if __name__ == "__main__":
    unittest.main()
