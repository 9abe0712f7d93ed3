"""Cloud-to-device messages (spec 2.5, 2.8, 5.3, 6.1): the service sends with the unmodified
npm azure-iothub Client over AMQP (tests/interop/support/c2d-send.js), a raw MQTT device
(tests/support/mqttraw.py) receives, and the service reads delivery feedback.

Covers: every property and the exact bag encoding, enqueue order with several in flight,
PUBACK -> Success feedback, redelivery with DUP after a reconnect, delivery again after
SIGKILL and restart, queued messages surviving a restart, the 50-message queue limit, the
64 KiB body limit, expiry -> Expired feedback and no delivery, unknown devices, bad
iothub-ack values, and cloudToDeviceMessageCount.
"""
import datetime
import json
import os
import signal
import subprocess
import sys
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import HubTestCase, create_device, device_token  # noqa: E402
import mqttraw  # noqa: E402

C2D_SEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "support",
                        "c2d-send.js")
FEEDBACK_CONTENT_TYPE = "application/vnd.microsoft.iothub.feedback.json"


def enc(s):
    """Spec 2.8: every byte outside A-Z a-z 0-9 - . _ ~ escaped, upper-case hex."""
    return urllib.parse.quote(s, safe="")


def iso_ms(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_bag(topic):
    """(device id, [(key, value or None)]) of a C2D topic, decoded."""
    parts = topic.split("/", 4)
    if parts[0] != "devices" or parts[2:4] != ["messages", "devicebound"]:
        raise AssertionError(f"not a C2D topic: {topic}")
    items = []
    for item in parts[4].split("&") if parts[4] else []:
        k, sep, v = item.partition("=")
        items.append((urllib.parse.unquote(k), urllib.parse.unquote(v) if sep else None))
    return parts[1], items


class C2DTest(HubTestCase):
    hub_args = ("--c2d-feedback-delay-ms", "100")

    # -- helpers ---------------------------------------------------------------------------
    def service(self, cmd, timeout=120):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.hub.ca_file,
                   IOTHUB_CONNECTION_STRING=self.hub.connection_string)
        res = subprocess.run(["node", C2D_SEND, json.dumps(cmd)], capture_output=True,
                             text=True, env=env, timeout=timeout)
        self.assertEqual(res.returncode, 0, f"c2d-send failed:\n{res.stdout}\n{res.stderr}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    def send(self, *messages):
        return self.service({"send": list(messages)})["results"]

    def feedback(self, count, timeout_ms=30000):
        return self.service({"feedback": {"count": count, "timeoutMs": timeout_ms}})["feedback"]

    def device(self, device_id):
        dev = create_device(self.hub, device_id)
        return dev, device_token(dev)

    def connect(self, dev, token, subscribe=True, clean_session=False):
        c, ack = mqttraw.open_device(self.hub, dev["deviceId"], token,
                                     clean_session=clean_session)
        self.assertEqual(ack.return_code, mqttraw.ACCEPTED)
        if subscribe:
            codes = c.subscribe([(f"devices/{dev['deviceId']}/messages/devicebound/#", 1)])
            self.assertEqual(codes, [1])
        return c

    def read_c2d(self, client, count):
        got = []
        while len(got) < count:
            p = client.read_packet(20)
            self.assertEqual(p.type, mqttraw.PUBLISH, f"expected PUBLISH, got {p!r}")
            got.append(p)
        return got

    def assert_nothing_delivered(self, client):
        """A PINGRESP comes after anything the hub had to deliver at that point."""
        client.send(mqttraw.pingreq_packet())
        p = client.read_packet(20)
        self.assertEqual(p.type, mqttraw.PINGRESP, f"expected no delivery, got {p!r}")

    def c2d_count(self, device_id):
        st, _, dev = self.hub.request("GET", f"/devices/{device_id}")
        self.assertEqual(st, 200, dev)
        return dev["cloudToDeviceMessageCount"]

    # -- tests -----------------------------------------------------------------------------
    def test_every_property_exact_bag_and_success_feedback(self):
        dev, token = self.device("c2d-dev")
        expiry = (int(datetime.datetime.now().timestamp()) + 3600) * 1000 + 123
        # (Node's service client sends no user-id; tests/unit/hub/test_c2d_decode.c covers it.)
        mid = str(uuid.uuid4())  # Node sends uuid-shaped ids as AMQP uuid
        props = {"color": "red", "a b/c": "x&y=z%", "\u00fc": "~._-", "empty": ""}
        res = self.send({"deviceId": "c2d-dev", "data": '{"cmd":"blink"}', "messageId": mid,
                         "correlationId": "corr 1", "ack": "full",
                         "contentType": "application/json", "contentEncoding": "utf-8",
                         "expiryTimeUtc": expiry, "properties": props})
        self.assertEqual(res, [{"ok": True}])
        self.assertEqual(self.c2d_count("c2d-dev"), 1)

        c = self.connect(dev, token)
        p, = self.read_c2d(c, 1)
        want_bag = "&".join([
            f"%24.mid={mid}",
            "%24.to=%2Fdevices%2Fc2d-dev%2Fmessages%2FdeviceBound",
            "%24.cid=corr%201",
            "%24.ct=application%2Fjson",
            "%24.ce=utf-8",
            f"%24.exp={enc(iso_ms(expiry))}",
            "iothub-ack=full",
        ] + [f"{enc(k)}={enc(v)}" for k, v in props.items()])
        self.assertEqual(p.topic, "devices/c2d-dev/messages/devicebound/" + want_bag)
        device_id, items = parse_bag(p.topic)
        self.assertEqual(device_id, "c2d-dev")
        self.assertEqual(dict(items)["a b/c"], "x&y=z%")
        self.assertEqual(p.payload, b'{"cmd":"blink"}')
        self.assertEqual(p.qos, 1)
        self.assertFalse(p.dup)
        self.assertFalse(p.retain)
        c.send(mqttraw.puback_packet(p.packet_id))
        c.ping()
        self.assertEqual(self.c2d_count("c2d-dev"), 0)

        fb = self.feedback(1)
        self.assertEqual(len(fb), 1, fb)
        rec = fb[0]["record"]
        self.assertEqual(rec["originalMessageId"], mid)
        self.assertEqual(rec["statusCode"], "Success")
        self.assertEqual(rec["description"], "Success")
        self.assertEqual(rec["deviceId"], "c2d-dev")
        self.assertEqual(rec["deviceGenerationId"], dev["generationId"])
        datetime.datetime.strptime(rec["enqueuedTimeUtc"], "%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertEqual(fb[0]["contentType"], FEEDBACK_CONTENT_TYPE)
        self.assertEqual(fb[0]["userId"], "localhost")
        self.assertTrue(fb[0]["messageId"])
        # Accepted by the service: not sent again.
        self.assertEqual(self.feedback(1, timeout_ms=1500), [])
        c.disconnect()

    def test_minimal_message_has_only_to(self):
        dev, token = self.device("bare")
        self.assertEqual(self.send({"deviceId": "bare", "data": "x"}), [{"ok": True}])
        c = self.connect(dev, token)
        p, = self.read_c2d(c, 1)
        self.assertEqual(p.topic, "devices/bare/messages/devicebound/"
                                  "%24.to=%2Fdevices%2Fbare%2Fmessages%2FdeviceBound")
        c.send(mqttraw.puback_packet(p.packet_id))
        c.disconnect()

    def test_qos0_subscription_gets_qos0_and_completes_on_write(self):
        dev, token = self.device("qos0")
        c, ack = mqttraw.open_device(self.hub, "qos0", token, clean_session=False)
        self.assertEqual(ack.return_code, mqttraw.ACCEPTED)
        self.assertEqual(c.subscribe([("devices/qos0/messages/devicebound/#", 0)]), [0])
        res = self.send({"deviceId": "qos0", "data": "fire and forget", "messageId": "q0",
                         "ack": "positive"})
        self.assertEqual(res, [{"ok": True}])
        p, = self.read_c2d(c, 1)
        self.assertEqual(p.qos, 0)
        self.assertEqual(p.payload, b"fire and forget")
        c.ping()
        self.assertEqual(self.c2d_count("qos0"), 0, "complete once written")
        fb = self.feedback(1)
        self.assertEqual([(f["record"]["originalMessageId"], f["record"]["statusCode"])
                          for f in fb], [("q0", "Success")])
        c.disconnect()
        # The granted QoS is part of the stored session: still QoS 0 after a reconnect.
        self.assertEqual(self.send({"deviceId": "qos0", "data": "later"}), [{"ok": True}])
        c, ack = mqttraw.open_device(self.hub, "qos0", token, clean_session=False)
        self.assertTrue(ack.session_present)
        p, = self.read_c2d(c, 1)
        self.assertEqual((p.qos, p.payload), (0, b"later"))
        c.disconnect()

    def test_order_with_several_in_flight(self):
        dev, token = self.device("orderly")
        n = 40
        res = self.send(*[{"deviceId": "orderly", "data": f"m{i}", "messageId": f"m{i}"}
                          for i in range(n)])
        self.assertEqual(res, [{"ok": True}] * n)
        c = self.connect(dev, token)
        got = []
        while len(got) < n:
            # Read what is in flight (more than one at a time), then acknowledge it all.
            batch = [c.read_packet(20)]
            c.send(mqttraw.pingreq_packet())
            while True:
                p = c.read_packet(20)
                if p.type == mqttraw.PINGRESP:
                    break
                batch.append(p)
            ids = [p.packet_id for p in batch]
            self.assertEqual(len(set(ids)), len(ids), "packet ids in flight are unique")
            if not got:
                self.assertGreater(len(batch), 1, "several messages in flight")
            got += batch
            for p in batch:
                c.send(mqttraw.puback_packet(p.packet_id))
        self.assertEqual([p.payload.decode() for p in got], [f"m{i}" for i in range(n)])
        self.assertEqual([dict(parse_bag(p.topic)[1])["$.mid"] for p in got],
                         [f"m{i}" for i in range(n)])
        c.ping()
        self.assertEqual(self.c2d_count("orderly"), 0)
        c.disconnect()

    def test_redelivery_with_dup_after_reconnect(self):
        dev, token = self.device("flaky")
        self.assertEqual(self.send({"deviceId": "flaky", "data": "again", "messageId": "r1"}),
                         [{"ok": True}])
        c = self.connect(dev, token)
        first, = self.read_c2d(c, 1)
        self.assertFalse(first.dup)
        c.close()  # gone without PUBACK

        # The persistent session keeps the subscription: no SUBSCRIBE this time.
        c = self.connect(dev, token, subscribe=False)
        again, = self.read_c2d(c, 1)
        self.assertTrue(again.dup)
        self.assertEqual(again.payload, b"again")
        self.assertEqual(again.topic, first.topic)
        c.send(mqttraw.puback_packet(again.packet_id))
        c.ping()
        self.assertEqual(self.c2d_count("flaky"), 0)
        c.disconnect()

        c = self.connect(dev, token, subscribe=False)
        self.assert_nothing_delivered(c)
        c.disconnect()

    def test_sigkill_before_puback_and_restart(self):
        dev, token = self.device("survivor")
        res = self.send(*[{"deviceId": "survivor", "data": f"s{i}", "messageId": f"s{i}"}
                          for i in range(3)])
        self.assertEqual(res, [{"ok": True}] * 3)
        c = self.connect(dev, token)
        got = self.read_c2d(c, 3)
        self.assertEqual([p.payload for p in got], [b"s0", b"s1", b"s2"])
        c.send(mqttraw.puback_packet(got[0].packet_id))
        c.ping()  # the first is complete; the others are not
        self.hub.stop(signal.SIGKILL)
        c.close()
        self.hub.start()

        self.assertEqual(self.c2d_count("survivor"), 2)
        c = self.connect(dev, token, subscribe=False)
        again = self.read_c2d(c, 2)
        self.assertEqual([p.payload for p in again], [b"s1", b"s2"])
        self.assertTrue(all(p.dup for p in again))
        for p in again:
            c.send(mqttraw.puback_packet(p.packet_id))
        c.ping()
        self.assertEqual(self.c2d_count("survivor"), 0)
        c.disconnect()

    def test_queued_messages_survive_a_restart(self):
        dev, token = self.device("patient")
        self.assertEqual(self.send({"deviceId": "patient", "data": "kept"}), [{"ok": True}])
        self.hub.stop()
        self.hub.start()
        self.assertEqual(self.c2d_count("patient"), 1)
        c = self.connect(dev, token)
        p, = self.read_c2d(c, 1)
        self.assertEqual(p.payload, b"kept")
        self.assertFalse(p.dup)
        c.send(mqttraw.puback_packet(p.packet_id))
        c.disconnect()

    def test_queue_limit_and_cloud_to_device_message_count(self):
        self.device("full")
        res = self.send(*[{"deviceId": "full", "data": f"q{i}"} for i in range(51)])
        self.assertEqual(res[:50], [{"ok": True}] * 50)
        err = res[50]["error"]
        self.assertEqual(err["name"], "DeviceMaximumQueueDepthExceededError", err)
        self.assertEqual(err["condition"], "amqp:resource-limit-exceeded")
        self.assertEqual(self.c2d_count("full"), 50)
        st, _, devices = self.hub.request("GET", "/devices?top=10")
        self.assertEqual(st, 200)
        self.assertEqual([d["cloudToDeviceMessageCount"] for d in devices
                          if d["deviceId"] == "full"], [50])

    def test_body_size_limit(self):
        self.device("small")
        res = self.send({"deviceId": "small", "data": {"repeat": "a", "count": 65536}},
                        {"deviceId": "small", "data": {"repeat": "b", "count": 65537}})
        self.assertEqual(res[0], {"ok": True})
        self.assertEqual(res[1]["error"]["condition"], "amqp:link:message-size-exceeded",
                         res[1])
        self.assertEqual(self.c2d_count("small"), 1)

    def test_expired_message_is_not_delivered_and_makes_feedback(self):
        dev, token = self.device("late")
        now_ms = int(datetime.datetime.now().timestamp() * 1000)
        res = self.send({"deviceId": "late", "data": "too late", "messageId": "exp-1",
                         "ack": "negative", "expiryTimeUtc": now_ms + 1500},
                        {"deviceId": "late", "data": "quiet", "messageId": "exp-2",
                         "ack": "positive", "expiryTimeUtc": now_ms + 1500})
        self.assertEqual(res, [{"ok": True}] * 2)
        fb = self.feedback(1, timeout_ms=30000)
        self.assertEqual([(f["record"]["originalMessageId"], f["record"]["statusCode"])
                          for f in fb], [("exp-1", "Expired")])
        self.assertEqual(fb[0]["record"]["deviceGenerationId"], dev["generationId"])
        self.assertEqual(self.c2d_count("late"), 0)
        c = self.connect(dev, token)
        self.assert_nothing_delivered(c)
        c.disconnect()

    def test_unknown_device_and_bad_fields_are_refused(self):
        self.device("known")
        res = self.send({"deviceId": "nobody", "data": "x"},
                        {"deviceId": "known", "data": "x", "ack": "sometimes"})
        self.assertEqual(res[0]["error"]["name"], "DeviceNotFoundError", res[0])
        self.assertEqual(res[0]["error"]["condition"], "amqp:not-found")
        self.assertEqual(res[1]["error"]["condition"], "com.microsoft:argument-error", res[1])
        self.assertEqual(self.c2d_count("known"), 0)

    def test_deleting_the_device_drops_its_queue(self):
        self.device("doomed")
        self.assertEqual(self.send({"deviceId": "doomed", "data": "x"}), [{"ok": True}])
        st, _, _ = self.hub.request("DELETE", "/devices/doomed", headers={"If-Match": "*"})
        self.assertIn(st, (200, 204))
        self.device("doomed")
        self.assertEqual(self.c2d_count("doomed"), 0)


if __name__ == "__main__":
    unittest.main()
