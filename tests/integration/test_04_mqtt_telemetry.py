"""04: device telemetry over MQTT 3.1.1 into the event log.

mosquitto_pub (Debian mosquitto-clients) and the project's own raw client (support/mqttraw.py,
written from the standard, independent of the hub's codec) publish over TLS and plain TCP;
then the hub is stopped and `iothubd --dump-events` must show every acknowledged message
exactly once, in order per device, with its properties."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import mqttraw  # noqa: E402
from hubtest import (HubTestCase, create_device, device_token, dump_events,  # noqa: E402
                     events_by_device, sas_token, self_signed_cert)
from mqttraw import ACCEPTED, open_device, telemetry_topic  # noqa: E402

SUBSCRIBABLE = ["$iothub/methods/POST/#", "$iothub/twin/res/#",
                "$iothub/twin/PATCH/properties/desired/#"]


def encode_bag(pairs):
    """The url-encoded property bag the SDKs append to the telemetry topic."""
    return "&".join(urllib.parse.quote(k, safe="") + "=" + urllib.parse.quote(v, safe="")
                    for k, v in pairs)


class Telemetry(HubTestCase):
    hub_args = ("--mqtt-plain-port", "1883")

    # -- helpers ------------------------------------------------------------------------
    def connect(self, dev, **kw):
        password = kw.pop("password", None) or device_token(dev)
        c, ack = open_device(self.hub, dev["deviceId"], password, **kw)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED, f"CONNACK for {dev['deviceId']}")
        return c, ack

    def stop_and_dump(self):
        self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
        return dump_events(self.hub)

    def assertIdentity(self, rec, dev, scope="device", auth_type="sas"):
        s = rec["system"]
        self.assertEqual(s["iothub-connection-device-id"], dev["deviceId"])
        self.assertEqual(s["iothub-connection-auth-generation-id"], dev["generationId"])
        self.assertEqual(s["iothub-message-source"], "Telemetry")
        method = json.loads(s["iothub-connection-auth-method"])
        self.assertEqual(method["scope"], scope, s)
        self.assertEqual(method["type"], auth_type, s)
        for k in list(rec["app"]) + list(s):
            self.assertFalse(k.startswith("$.") or k.startswith("%24"), f"raw bag key {k}")

    def assertLogOrder(self, recs):
        """One device's records: one partition, seq and offset strictly increasing."""
        self.assertEqual(len({r["partition"] for r in recs}), 1, "a device spans partitions")
        seqs = [r["seq"] for r in recs]
        offs = [r["offset"] for r in recs]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(offs, sorted(set(offs)))

    # -- tests --------------------------------------------------------------------------
    def test_mosquitto_pub_qos1_with_sas_password(self):
        dev = create_device(self.hub, "dev1")
        base = ["mosquitto_pub", "-h", "localhost", "-p", "8883", "--cafile", self.hub.ca_file,
                "-i", "dev1", "-u", "localhost/dev1/?api-version=2021-04-12",
                "-V", "mqttv311", "-q", "1"]
        r = subprocess.run(base + ["-P", device_token(dev), "-t",
                                   "devices/dev1/messages/events/%24.mid=m1&%24.cid=c1&"
                                   "%24.ct=application%2Fjson&%24.ce=utf-8&prop=x",
                                   "-m", '{"temperature":21.5}'],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [f"line {i}" for i in range(50)]
        r = subprocess.run(base + ["-P", device_token(dev), "-t",
                                   "devices/dev1/messages/events/%24.mid=lines&n=many", "-l"],
                           input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A wrong password: mosquitto_pub reports the refusal and nothing is stored.
        bad = sas_token("localhost/devices/dev1", "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=")
        r = subprocess.run(base + ["-P", bad, "-t", "devices/dev1/messages/events/", "-m",
                                   "refused"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not authori", (r.stdout + r.stderr).lower())

        recs = events_by_device(self.stop_and_dump())
        self.assertEqual(list(recs), ["dev1"])
        got = recs["dev1"]
        self.assertEqual(len(got), 1 + len(lines))
        self.assertLogOrder(got)
        first = got[0]
        self.assertEqual(first["body"], b'{"temperature":21.5}')
        self.assertEqual(first["system"]["message-id"], "m1")
        self.assertEqual(first["system"]["correlation-id"], "c1")
        self.assertEqual(first["system"]["content-type"], "application/json")
        self.assertEqual(first["system"]["content-encoding"], "utf-8")
        self.assertEqual(first["app"], {"prop": "x"})
        self.assertIdentity(first, dev)
        self.assertEqual([r["body"].decode() for r in got[1:]], lines)
        for rec in got[1:]:
            self.assertEqual(rec["system"]["message-id"], "lines")
            self.assertEqual(rec["app"], {"n": "many"})
            self.assertIdentity(rec, dev)

    def test_pipelined_qos1_from_three_devices(self):
        n = 200
        devs = [create_device(self.hub, f"pipe-{i}") for i in range(3)]
        clients = [self.connect(d)[0] for d in devs]
        expected = {d["deviceId"]: [] for d in devs}
        pids = {d["deviceId"]: [] for d in devs}
        started_ms = int(time.time() * 1000)
        for i in range(n):  # interleaved, nothing awaited: every connection has n in flight
            for d, c in zip(devs, clients):
                did = d["deviceId"]
                mid = f"{did}-m{i}"
                app = {"seq": str(i), "name with space": "a b&c=d/\u00e9", "device": did}
                bag = [("$.mid", mid), ("$.cid", f"corr-{i}"), ("$.ct", "application/json"),
                       ("$.ce", "utf-8"), ("$.uid", "user-1")] + list(app.items())
                if i % 3 == 0:
                    body = bytes(range(256)) + i.to_bytes(2, "big")  # binary, every byte
                else:
                    body = json.dumps({"device": did, "i": i}).encode()
                pids[did].append(c.publish(telemetry_topic(did, encode_bag(bag)), body, qos=1))
                expected[did].append((mid, f"corr-{i}", body, app))
        for d, c in zip(devs, clients):
            did = d["deviceId"]
            acks = c.wait_pubacks(pids[did], timeout=120)
            # MQTT-4.6.0-2: PUBACKs in the order the PUBLISH packets were received.
            self.assertEqual(acks, pids[did], did)
            self.assertTrue(c.is_open(2))
            c.disconnect()

        recs = events_by_device(self.stop_and_dump())
        self.assertEqual(sorted(recs), sorted(expected))
        for d in devs:
            did = d["deviceId"]
            got = recs[did]
            self.assertEqual(len(got), n, f"{did}: every PUBACKed message exactly once")
            self.assertLogOrder(got)
            for rec, (mid, cid, body, app) in zip(got, expected[did]):
                self.assertEqual(rec["system"]["message-id"], mid, "send order kept")
                self.assertEqual(rec["system"]["correlation-id"], cid)
                self.assertEqual(rec["system"]["content-type"], "application/json")
                self.assertEqual(rec["system"]["content-encoding"], "utf-8")
                self.assertEqual(rec["system"]["user-id"], "user-1")
                self.assertEqual(rec["body"], body, mid)
                self.assertEqual(rec["app"], app, mid)
                self.assertIdentity(rec, d)
                self.assertGreaterEqual(rec["enqueued_ms"], started_ms - 1000)
                self.assertLessEqual(rec["enqueued_ms"], int(time.time() * 1000) + 1000)

    def test_more_in_flight_than_the_hubs_window(self):
        # 3000 QoS 1 messages written before reading any PUBACK: more than the hub keeps in
        # flight per connection, so it must pause and resume reading without losing any.
        dev = create_device(self.hub, "burst")
        c, _ = self.connect(dev, timeout=60)
        pids = [c.publish(telemetry_topic("burst", f"%24.mid=b{i}"), i.to_bytes(4, "big") * 50,
                          qos=1) for i in range(3000)]
        self.assertEqual(c.wait_pubacks(pids, timeout=120), pids)
        c.disconnect()
        got = events_by_device(self.stop_and_dump())["burst"]
        self.assertEqual([r["system"]["message-id"] for r in got], [f"b{i}" for i in range(3000)])
        self.assertEqual([r["body"] for r in got],
                         [i.to_bytes(4, "big") * 50 for i in range(3000)])
        self.assertLogOrder(got)

    def test_pubacks_keep_publish_order_across_topics(self):
        # Telemetry waits for the log's fdatasync; a twin request (QoS 1, as the Python SDK
        # sends it) needs no write. Its PUBACK must still not overtake the telemetry ones
        # (MQTT-4.6.0-2).
        dev = create_device(self.hub, "ordered")
        c, _ = self.connect(dev)
        pids = []
        for i in range(20):
            pids.append(c.publish(telemetry_topic("ordered", f"%24.mid=o{i}"), b"t", qos=1))
            pids.append(c.publish(f"$iothub/twin/GET/?$rid={i}", b" ", qos=1))
        self.assertEqual(c.wait_pubacks(pids, timeout=30), pids)
        c.disconnect()
        got = events_by_device(self.stop_and_dump())["ordered"]
        self.assertEqual([r["system"]["message-id"] for r in got], [f"o{i}" for i in range(20)])

    def test_device_ids_with_special_characters_are_not_url_encoded_in_topics(self):
        did = "Dev-1.x_y=w@q$r'(s)!*,%"
        dev = create_device(self.hub, did)
        c, _ = self.connect(dev)
        c.publish_wait(f"devices/{did}/messages/events/%24.mid=w1", b"special")
        # The url-encoded form names no device of this connection.
        c.publish(f"devices/{urllib.parse.quote(did, safe='')}/messages/events/", b"x", qos=1)
        _, pkts = c.wait_closed(5)
        self.assertEqual(pkts, [])
        got = self.stop_and_dump()
        self.assertEqual([(r["system"]["iothub-connection-device-id"],
                           r["system"]["message-id"], r["body"]) for r in got],
                         [(did, "w1", b"special")])
        self.assertIdentity(got[0], dev)

    def test_system_property_mapping(self):
        dev = create_device(self.hub, "props")
        c, _ = self.connect(dev)
        bag = [("$.mid", "mid-1"), ("$.cid", "cid-1"), ("$.uid", "uid-1"),
               ("$.to", "/devices/props/messages/events"), ("$.ct", "text/plain"),
               ("$.ce", "utf-16"), ("$.exp", "2031-01-01T00:00:00.000Z"),
               ("$.ctime", "2024-05-06T07:08:09.123Z"), ("k1", "v1"), ("K2", "")]
        c.publish_wait(telemetry_topic("props", encode_bag(bag)), b"hello")
        c.disconnect()
        [rec] = self.stop_and_dump()
        want_sys = {"message-id": "mid-1", "correlation-id": "cid-1", "user-id": "uid-1",
                    "to": "/devices/props/messages/events", "content-type": "text/plain",
                    "content-encoding": "utf-16",
                    "absolute-expiry-time": "2031-01-01T00:00:00.000Z"}
        for k, v in want_sys.items():
            self.assertEqual(rec["system"].get(k), v, k)
        self.assertEqual(rec["app"], {"iothub-creation-time-utc": "2024-05-06T07:08:09.123Z",
                                      "k1": "v1", "K2": ""})
        self.assertEqual(rec["body"], b"hello")
        self.assertIdentity(rec, dev)

    def test_qos0(self):
        dev = create_device(self.hub, "q0")
        c, _ = self.connect(dev)
        for i in range(20):
            self.assertIsNone(c.publish(telemetry_topic("q0", encode_bag([("$.mid", f"q{i}")])),
                                        f"zero {i}", qos=0))
        c.ping()  # handled after every PUBLISH before it
        c.disconnect()
        recs = events_by_device(self.stop_and_dump())
        got = recs["q0"]
        self.assertEqual([r["system"]["message-id"] for r in got], [f"q{i}" for i in range(20)])
        self.assertEqual([r["body"] for r in got], [f"zero {i}".encode() for i in range(20)])
        self.assertLogOrder(got)
        for r in got:
            self.assertIdentity(r, dev)

    def test_retain_flag_becomes_mqtt_retain(self):
        dev = create_device(self.hub, "ret")
        c, _ = self.connect(dev)
        c.publish_wait(telemetry_topic("ret", "%24.mid=r1&a=1"), b"retained", retain=True)
        c.publish_wait(telemetry_topic("ret", "%24.mid=r2&a=2"), b"plain", retain=False)
        c.publish(telemetry_topic("ret", "%24.mid=r3"), b"retained qos0", qos=0, retain=True)
        c.ping()
        c.disconnect()
        got = events_by_device(self.stop_and_dump())["ret"]
        self.assertEqual([r["system"]["message-id"] for r in got], ["r1", "r2", "r3"])
        self.assertEqual(got[0]["app"], {"a": "1", "mqtt-retain": "true"})
        self.assertEqual(got[1]["app"], {"a": "2"})
        self.assertEqual(got[2]["app"], {"mqtt-retain": "true"})

    def test_c_sdk_style_bags_and_trailing_slash(self):
        dev = create_device(self.hub, "csdk")
        c, _ = self.connect(dev)
        topics = [
            # The C SDK sends values unencoded.
            "devices/csdk/messages/events/%24.mid=c1&%24.ct=application/json&%24.ce=utf-8&k=v",
            # Node adds a trailing slash.
            "devices/csdk/messages/events/%24.mid=c2&k=v/",
            # No bag at all.
            "devices/csdk/messages/events/",
            # Not valid percent-encoding: taken literally; valid encoding: decoded.
            "devices/csdk/messages/events/%24.mid=c4&pct=100%&enc=a%2Fb%20c",
        ]
        for i, t in enumerate(topics):
            c.publish_wait(t, f"body {i}".encode())
        c.disconnect()
        got = events_by_device(self.stop_and_dump())["csdk"]
        self.assertEqual([r["body"] for r in got], [f"body {i}".encode() for i in range(4)])
        self.assertEqual(got[0]["system"]["message-id"], "c1")
        self.assertEqual(got[0]["system"]["content-type"], "application/json")
        self.assertEqual(got[0]["system"]["content-encoding"], "utf-8")
        self.assertEqual(got[0]["app"], {"k": "v"})
        self.assertEqual(got[1]["system"]["message-id"], "c2")
        self.assertEqual(got[1]["app"], {"k": "v"})
        self.assertNotIn("message-id", got[2]["system"])
        self.assertEqual(got[2]["app"], {})
        self.assertIdentity(got[2], dev)
        self.assertEqual(got[3]["app"], {"pct": "100%", "enc": "a/b c"})

    def test_plain_port(self):
        dev = create_device(self.hub, "plain")
        c, _ = self.connect(dev, port=1883, tls=False)
        c.publish_wait(telemetry_topic("plain", "%24.mid=p1"), b"raw plain")
        c.disconnect()
        r = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", "1883", "-i", "plain",
                            "-u", "localhost/plain/?api-version=2021-04-12",
                            "-P", device_token(dev), "-V", "mqttv311", "-q", "1",
                            "-t", "devices/plain/messages/events/%24.mid=p2", "-m", "mosq plain"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # TLS is not spoken on the plain port, nor plain MQTT on the TLS port.
        with mqttraw.Client(port=8883, tls=False, timeout=10) as raw:
            raw.send(mqttraw.connect_packet("plain", mqttraw.device_username("plain"),
                                            device_token(dev)))
            _, pkts = raw.wait_closed(10)
            self.assertFalse([p for p in pkts if p.type == mqttraw.CONNACK])
        got = events_by_device(self.stop_and_dump())["plain"]
        self.assertEqual([(r["system"]["message-id"], r["body"]) for r in got],
                         [("p1", b"raw plain"), ("p2", b"mosq plain")])
        for r in got:
            self.assertIdentity(r, dev)

    def test_subscribe_codes_and_session_present_across_reconnect_and_restart(self):
        dev = create_device(self.hub, "sess")
        other = create_device(self.hub, "other")
        c, ack = self.connect(dev, clean_session=False)
        self.assertFalse(ack.session_present, "no stored session yet")
        codes = c.subscribe([("devices/sess/messages/devicebound/#", 1),
                             (SUBSCRIBABLE[0], 0), (SUBSCRIBABLE[1], 1), (SUBSCRIBABLE[2], 1),
                             ("devices/other/messages/devicebound/#", 1), ("foo/bar", 0),
                             ("#", 1), ("$iothub/twin/res/#", 2)])
        self.assertEqual(codes, [1, 0, 1, 1, 0x80, 0x80, 0x80, 1])
        self.assertTrue(c.is_open(2), "refused filters do not close the connection")
        c.disconnect()

        c, ack = self.connect(dev, clean_session=False)
        self.assertTrue(ack.session_present, "the session survives a reconnect")
        c.disconnect()
        c, ack = self.connect(other, clean_session=False)
        self.assertFalse(ack.session_present, "sessions are per device")
        c.disconnect()

        self.assertEqual(self.hub.stop(), 0)
        self.hub.start()
        c, ack = self.connect(dev, clean_session=False)
        self.assertTrue(ack.session_present, "the session survives a daemon restart")
        c.disconnect()
        # Clean session 1: session present 0 (MQTT-3.2.2-1), and the stored one is gone.
        c, ack = self.connect(dev, clean_session=True)
        self.assertFalse(ack.session_present)
        c.disconnect()
        c, ack = self.connect(dev, clean_session=False)
        self.assertFalse(ack.session_present, "clean session 1 discarded the session")
        c.disconnect()

    def test_pingreq_and_unsubscribe(self):
        dev = create_device(self.hub, "pinger")
        c, _ = self.connect(dev)
        for _ in range(3):
            self.assertEqual(c.ping().type, mqttraw.PINGRESP)
        self.assertEqual(c.subscribe([(SUBSCRIBABLE[0], 1)]), [1])
        c.send(mqttraw.unsubscribe_packet(77, [SUBSCRIBABLE[0]]))
        self.assertEqual(c.expect(mqttraw.UNSUBACK).packet_id, 77)
        self.assertTrue(c.is_open(2))
        c.disconnect()

    def test_policy_tokens_connect_with_hub_scope(self):
        dev = create_device(self.hub, "pol")
        device_policy = self.hub.policy("device")["SharedAccessKey"]
        owner = self.hub.policy("iothubowner")["SharedAccessKey"]
        tokens = [
            sas_token("localhost/devices/pol", device_policy, policy="device"),
            sas_token("localhost/devices/pol", owner, policy="iothubowner"),
            sas_token("localhost", device_policy, policy="device"),  # the whole hub
        ]
        for i, tok in enumerate(tokens):
            c, _ = self.connect(dev, password=tok)
            c.publish_wait(telemetry_topic("pol", f"%24.mid=pol{i}"), b"via policy")
            c.disconnect()
        got = events_by_device(self.stop_and_dump())["pol"]
        self.assertEqual([r["system"]["message-id"] for r in got], ["pol0", "pol1", "pol2"])
        for r in got:
            self.assertIdentity(r, dev, scope="hub")

    def test_x509_self_signed_devices(self):
        tmp = tempfile.mkdtemp(prefix="x509-", dir=os.path.dirname(self.hub.data_dir))
        cert1, key1, sha1, _ = self_signed_cert(tmp, "x509dev-1")
        cert2, key2, _, sha256 = self_signed_cert(tmp, "x509dev-2")
        # Primary as a SHA-1 thumbprint, secondary as SHA-256 (lower case: case-blind).
        dev = create_device(self.hub, "x509dev", authentication={
            "type": "selfSigned",
            "x509Thumbprint": {"primaryThumbprint": sha1, "secondaryThumbprint": sha256.lower()}})
        for i, (cert, key) in enumerate(((cert1, key1), (cert2, key2))):
            c, ack = open_device(self.hub, "x509dev", None, certfile=cert, keyfile=key)
            self.addCleanup(c.close)
            self.assertEqual(ack.return_code, ACCEPTED, f"certificate {i + 1}")
            c.publish_wait(telemetry_topic("x509dev", f"%24.mid=x{i}"), b"by certificate")
            c.disconnect()
        r = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", "8883",
                            "--cafile", self.hub.ca_file, "--cert", cert1, "--key", key1,
                            "-i", "x509dev", "-u", "localhost/x509dev/?api-version=2021-04-12",
                            "-V", "mqttv311", "-q", "1",
                            "-t", "devices/x509dev/messages/events/%24.mid=x2", "-m", "mosq"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = events_by_device(self.stop_and_dump())["x509dev"]
        self.assertEqual([r["system"]["message-id"] for r in got], ["x0", "x1", "x2"])
        for r in got:
            self.assertIdentity(r, dev, auth_type="x509Certificate")

    def test_user_name_forms_the_sdks_send(self):
        dev = create_device(self.hub, "uname")
        forms = ["localhost/uname/?api-version=2021-04-12",
                 "localhost/uname/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F"
                 "1.18.4%20(node%20v20.0.0%3B%20Linux%3B%20x64)",
                 "localhost/uname/api-version=2016-11-14",
                 "localhost/uname"]
        for i, u in enumerate(forms):
            c, ack = self.connect(dev, username=u)
            c.publish_wait(telemetry_topic("uname", f"%24.mid=u{i}"), b"u")
            c.disconnect()
        got = events_by_device(self.stop_and_dump())["uname"]
        self.assertEqual([r["system"]["message-id"] for r in got],
                         [f"u{i}" for i in range(len(forms))])

    def test_repeated_system_properties_and_full_bags(self):
        """A system property sent many times counts once (the last one); a bag with every
        application property allowed plus $.ctime, $.schema and the retain flag is stored
        whole. Both once overran the hub's fixed arrays."""
        dev = create_device(self.hub, "rep")
        c, _ = self.connect(dev)
        bag = [("$.mid", f"m{i}") for i in range(40)] + [("$.ctime", f"t{i}") for i in range(40)]
        c.publish_wait(telemetry_topic("rep", encode_bag(bag)), b"repeated")
        # $.ctime and $.schema first: they do not count toward the 128 of the device.
        full = [("$.ctime", "2024-01-01T00:00:00Z"), ("$.schema", "s1")] + \
            [(f"k{i}", str(i)) for i in range(128)] + [("$.mid", "full")]
        c.publish_wait(telemetry_topic("rep", encode_bag(full)), b"full", retain=True)
        c.disconnect()
        got = events_by_device(self.stop_and_dump())["rep"]
        self.assertEqual([r["system"]["message-id"] for r in got], ["m39", "full"])
        self.assertEqual(got[0]["app"], {"iothub-creation-time-utc": "t39"})
        want = {f"k{i}": str(i) for i in range(128)}
        want.update({"iothub-creation-time-utc": "2024-01-01T00:00:00Z",
                     "iothub-message-schema": "s1", "mqtt-retain": "true"})
        self.assertEqual(got[1]["app"], want)

    def test_model_id_becomes_dt_dataschema(self):
        """The user name's model-id (Plug and Play), as the Node SDK (plain) and the C SDK
        (percent-encoded) send it, is stored with every message of the connection."""
        dev = create_device(self.hub, "pnp")
        forms = ["localhost/pnp/?api-version=2021-04-12&model-id=dtmi:com:example:"
                 "Thermostat;1&DeviceClientType=azure-iot-device%2F1.18.4",
                 "localhost/pnp/?api-version=2020-09-30&DeviceClientType=iothubclient%2F1.11.0"
                 "&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B2",
                 "localhost/pnp/?api-version=2021-04-12"]
        for i, u in enumerate(forms):
            c, ack = self.connect(dev, username=u)
            c.publish_wait(telemetry_topic("pnp", f"%24.mid=p{i}"), b"p")
            c.disconnect()
        c, ack = open_device(self.hub, "pnp", device_token(dev),
                             username="localhost/pnp/?model-id=dtmi%3")
        c.close()
        self.assertEqual(ack.return_code, 5)  # not valid percent-encoding: refused
        got = events_by_device(self.stop_and_dump())["pnp"]
        self.assertEqual([r["system"].get("dt-dataschema") for r in got],
                         ["dtmi:com:example:Thermostat;1", "dtmi:com:example:Thermostat;2",
                          None])


if __name__ == "__main__":
    unittest.main(verbosity=2)
