"""15: device twins (spec 2.10, 3.5): REST get/patch/put with etag and $version rules and
$metadata, the limits of spec 6.1 (a refused change leaves the twin as it was), the device
side over raw MQTT (GET, reported PATCH, desired notifications, errorCode bodies), the
catch-up of a persistent session after a reconnect and after a daemon restart, and the
`iothub twin` commands."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import HubTestCase, create_device, device_token  # noqa: E402
from mqttraw import (ACCEPTED, PUBACK, PUBLISH, Closed, device_username,  # noqa: E402
                     open_device)

RES = "$iothub/twin/res/#"
DESIRED = "$iothub/twin/PATCH/properties/desired/#"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")

TWIN_MEMBERS = ("deviceId", "etag", "deviceEtag", "status", "statusUpdateTime",
                "connectionState", "lastActivityTime", "cloudToDeviceMessageCount",
                "authenticationType", "x509Thumbprint", "version", "tags", "properties",
                "capabilities")


def nest(depth, leaf="v"):
    """{"l1":{"l2":...{"lN": leaf}}}: depth objects below the section."""
    value = leaf
    for i in range(depth, 0, -1):
        value = {f"l{i}": value}
    return value


class TwinTestCase(HubTestCase):
    def setUp(self):
        super().setUp()
        self.dev = create_device(self.hub, "dev1")

    def twin(self, device_id="dev1"):
        st, headers, body = self.hub.request("GET", f"/twins/{device_id}")
        self.assertEqual(st, 200, body)
        self.assertEqual(headers.get("etag"), f'"{body["etag"]}"')
        return body

    def patch(self, body, etag="*", method="PATCH", device_id="dev1"):
        headers = {} if etag is None else {"If-Match": f'"{etag}"'}
        return self.hub.request(method, f"/twins/{device_id}", body, headers=headers)

    def patch_ok(self, body, **kw):
        st, _, twin = self.patch(body, **kw)
        self.assertEqual(st, 200, twin)
        return twin

    def device(self, clean_session=False, subscribe=(RES, DESIRED), dev=None):
        dev = dev or self.dev
        c, ack = open_device(self.hub, dev["deviceId"], device_token(dev),
                             clean_session=clean_session)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED)
        if subscribe:
            self.assertEqual(c.subscribe([(f, 0) for f in subscribe]), [0] * len(subscribe))
        return c

    def next_publish(self, c, timeout=5):
        p = c.read_packet(timeout)
        while p.type != PUBLISH:
            p = c.read_packet(timeout)
        return p

    def request(self, c, topic, payload=b" ", qos=0):
        c.publish(topic, payload, qos=qos)
        if qos:
            self.assertEqual(c.expect(PUBACK).type, PUBACK)
        p = self.next_publish(c)
        body = json.loads(p.payload) if p.payload else None
        return p, body


class RestTwins(TwinTestCase):
    def test_new_twin_has_every_member(self):
        t = self.twin()
        for m in TWIN_MEMBERS:
            self.assertIn(m, t)
        self.assertEqual(t["deviceId"], "dev1")
        self.assertEqual(t["etag"], "AAAAAAAAAAE=")
        self.assertEqual(t["deviceEtag"], self.dev["etag"])
        self.assertEqual(t["version"], 1)
        self.assertEqual(t["status"], "enabled")
        self.assertEqual(t["connectionState"], "Disconnected")
        self.assertEqual(t["authenticationType"], "sas")
        self.assertEqual(t["x509Thumbprint"],
                         {"primaryThumbprint": None, "secondaryThumbprint": None})
        self.assertEqual(t["capabilities"], {"iotEdge": False})
        self.assertEqual(t["tags"], {})
        for section in ("desired", "reported"):
            s = t["properties"][section]
            self.assertEqual(s["$version"], 1)
            self.assertRegex(s["$metadata"]["$lastUpdated"], ISO)
            self.assertEqual(set(s) - {"$version", "$metadata"}, set())

    def test_unknown_device(self):
        self.assertHubError(self.hub.request("GET", "/twins/nobody"), 404, "DeviceNotFound")
        self.assertHubError(self.patch({"tags": {"a": 1}}, device_id="nobody"), 404,
                            "DeviceNotFound")
        self.assertHubError(self.patch({"tags": {"a": 1}}, method="PUT", device_id="nobody"),
                            404, "DeviceNotFound")

    def test_patch_merges_and_counts_versions(self):
        t = self.patch_ok({"tags": {"room": "b43", "site": {"city": "Oslo"}},
                           "properties": {"desired": {"interval": 10, "mode": {"a": 1, "b": 2}}},
                           "deviceId": "ignored", "status": "disabled"})
        self.assertEqual(t["version"], 2)
        self.assertEqual(t["etag"], "AAAAAAAAAAI=")
        self.assertEqual(t["status"], "enabled")  # other top-level members are ignored
        self.assertEqual(t["tags"], {"room": "b43", "site": {"city": "Oslo"}})
        d = t["properties"]["desired"]
        self.assertEqual(d["$version"], 2)
        self.assertEqual(d["interval"], 10)
        meta = d["$metadata"]
        self.assertRegex(meta["interval"]["$lastUpdated"], ISO)
        self.assertEqual(meta["interval"]["$lastUpdatedVersion"], 2)
        self.assertRegex(meta["mode"]["$lastUpdated"], ISO)
        self.assertEqual(meta["mode"]["b"]["$lastUpdatedVersion"], 2)
        self.assertEqual(t["properties"]["reported"]["$version"], 1)

        # Recursive merge, null deletes, with the current etag quoted.
        t = self.patch_ok({"properties": {"desired": {"interval": None, "mode": {"b": None,
                                                                                "c": [1, 2]}}}},
                          etag=t["etag"])
        d = t["properties"]["desired"]
        self.assertEqual(d["$version"], 3)
        self.assertNotIn("interval", d)
        self.assertNotIn("interval", d["$metadata"])
        self.assertEqual(d["mode"], {"a": 1, "c": [1, 2]})
        self.assertEqual(d["$metadata"]["mode"]["c"]["$lastUpdatedVersion"], 3)
        self.assertEqual(d["$metadata"]["mode"]["a"]["$lastUpdatedVersion"], 2)
        self.assertNotIn("b", d["$metadata"]["mode"])
        self.assertEqual(t["version"], 3)

        # Tags only: desired keeps its $version, the twin does not.
        t = self.patch_ok({"tags": {"site": {"city": None, "zip": "0150"}}}, etag=None)
        self.assertEqual(t["tags"], {"room": "b43", "site": {"zip": "0150"}})
        self.assertEqual(t["properties"]["desired"]["$version"], 3)
        self.assertEqual(t["version"], 4)
        self.assertEqual(t["etag"], "AAAAAAAAAAQ=")
        self.assertEqual(self.twin(), t)

    def test_stale_etag_is_412_and_changes_nothing(self):
        first = self.patch_ok({"tags": {"a": 1}})
        self.patch_ok({"tags": {"a": 2}}, etag=first["etag"])
        before = self.twin()
        self.assertHubError(self.patch({"tags": {"a": 3}}, etag=first["etag"]), 412,
                            "PreconditionFailed")
        self.assertHubError(self.patch({"tags": {"a": 3}}, etag=first["etag"], method="PUT"),
                            412, "PreconditionFailed")
        self.assertEqual(self.twin(), before)

    def test_put_replaces_tags_and_desired(self):
        self.patch_ok({"tags": {"a": 1, "b": 2}, "properties": {"desired": {"x": 1, "y": 2}}})
        t = self.patch_ok({"tags": {"c": 3}, "properties": {"desired": {"z": {"deep": True}}}},
                          method="PUT", etag=None)
        self.assertEqual(t["tags"], {"c": 3})
        d = t["properties"]["desired"]
        self.assertEqual({k: v for k, v in d.items() if not k.startswith("$")},
                         {"z": {"deep": True}})
        self.assertEqual(set(d["$metadata"]) - {"$lastUpdated", "$lastUpdatedVersion"}, {"z"})
        self.assertEqual(d["$version"], 3)
        self.assertEqual(t["version"], 3)
        self.assertEqual(self.twin(), t)

    def test_refused_changes_leave_the_twin_as_it_was(self):
        self.patch_ok({"tags": {"keep": 1}, "properties": {"desired": {"keep": 1}}})
        before = self.twin()
        cases = [
            ("malformed JSON", b'{"tags": {', "IotHubFormatError"),
            ("not an object", b'[1, 2]', "ArgumentInvalid"),
            ("reported", {"properties": {"reported": {"x": 1}}}, "ArgumentInvalid"),
            ("tags not an object", {"tags": 5}, "ArgumentInvalid"),
            ("dot in key", {"tags": {"a.b": 1}}, "ArgumentInvalid"),
            ("dollar in key", {"properties": {"desired": {"$x": 1}}}, "ArgumentInvalid"),
            ("space in key", {"properties": {"desired": {"a b": 1}}}, "ArgumentInvalid"),
            ("control char", {"properties": {"desired": {"a\u0001": 1}}}, "ArgumentInvalid"),
            ("key > 1 KB", {"tags": {"k" * 1025: 1}}, "ArgumentInvalid"),
            ("string > 4 KB", {"properties": {"desired": {"s": "x" * 4097}}},
             "ArgumentInvalid"),
            ("integer too big", {"properties": {"desired": {"n": 4503599627370496}}},
             "ArgumentInvalid"),
            ("too deep", {"properties": {"desired": {"deep": nest(11)}}}, "ArgumentInvalid"),
            ("tags > 8 KB", {"tags": {f"t{i}": "x" * 1000 for i in range(9)}},
             "ArgumentInvalid"),
            ("desired > 32 KB",
             {"properties": {"desired": {f"d{i}": "x" * 4000 for i in range(9)}}},
             "ArgumentInvalid"),
        ]
        for name, body, code in cases:
            with self.subTest(name):
                self.assertHubError(self.patch(body), 400, code)
                self.assertHubError(self.patch(body, method="PUT"), 400, code)
        self.assertEqual(self.twin(), before)
        # The limits themselves are allowed.
        t = self.patch_ok({"properties": {"desired": {"s": "x" * 4096, "n": -4503599627370496,
                                                      "deep": nest(10), "k" * 1024: 1}}})
        self.assertEqual(t["properties"]["desired"]["deep"], nest(10))

    def test_query_returns_twin_documents(self):
        create_device(self.hub, "dev2")
        t = self.patch_ok({"tags": {"room": "b43"}, "properties": {"desired": {"x": 1}}})
        st, hdrs, rows = self.hub.request("POST", "/devices/query",
                                          {"query": "SELECT * FROM devices"})
        self.assertEqual(st, 200, rows)
        self.assertEqual(hdrs.get("x-ms-item-type"), "twin")
        self.assertEqual([r["deviceId"] for r in rows], ["dev1", "dev2"])
        self.assertEqual(rows[0], t)
        self.assertEqual(rows[1], self.twin("dev2"))

    def test_delete_and_recreate_gives_a_fresh_twin(self):
        self.patch_ok({"tags": {"a": 1}})
        st, _, _ = self.hub.request("DELETE", "/devices/dev1", headers={"If-Match": '"*"'})
        self.assertEqual(st, 204)
        create_device(self.hub, "dev1")
        t = self.twin()
        self.assertEqual((t["tags"], t["version"], t["etag"]), ({}, 1, "AAAAAAAAAAE="))


class MqttTwins(TwinTestCase):
    def connect_with_model(self, model_id_encoded):
        user = device_username("dev1", suffix="?api-version=2021-04-12&model-id=" +
                               model_id_encoded + "&DeviceClientType=test%2F1.0")
        c, ack = open_device(self.hub, "dev1", device_token(self.dev), username=user)
        self.assertEqual(ack.return_code, ACCEPTED)
        return c

    def wait_model_id(self, want, timeout=5):
        """The twin's modelId once the hub has recorded it (within a second or two)."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.twin()
            if t.get("modelId") == want or time.monotonic() > deadline:
                return t
            time.sleep(0.1)

    def test_model_id_of_the_connection_is_on_the_twin(self):
        self.assertNotIn("modelId", self.twin())
        before = self.twin()
        # The C SDK percent-encodes the model id, the Node SDK does not.
        c = self.connect_with_model("dtmi%3Acom%3Aexample%3AThermostat%3B1")
        t = self.wait_model_id("dtmi:com:example:Thermostat;1")
        self.assertEqual(t.get("modelId"), "dtmi:com:example:Thermostat;1")
        self.assertEqual((t["version"], t["etag"]), (before["version"], before["etag"]))
        c.disconnect()
        # Without a model id the last one stays; another replaces it; a restart keeps it.
        c = self.device(subscribe=())
        c.disconnect()
        c = self.connect_with_model("dtmi:com:example:Other;2")
        self.assertEqual(self.wait_model_id("dtmi:com:example:Other;2").get("modelId"),
                         "dtmi:com:example:Other;2")
        c.disconnect()
        self.assertEqual(self.twin().get("modelId"), "dtmi:com:example:Other;2")
        self.assertEqual(self.hub.stop(), 0)
        self.hub.start()
        t = self.twin()
        self.assertEqual(t.get("modelId"), "dtmi:com:example:Other;2")
        st, _, rows = self.hub.request("POST", "/devices/query",
                                       {"query": "SELECT * FROM devices"})
        self.assertEqual(st, 200, rows)
        self.assertEqual(rows[0].get("modelId"), "dtmi:com:example:Other;2")

    def test_get_and_reported_patch(self):
        self.patch_ok({"properties": {"desired": {"interval": 10}}})
        c = self.device(subscribe=(RES,))
        p, body = self.request(c, "$iothub/twin/GET/?$rid=1e2fe072")
        self.assertEqual(p.topic, "$iothub/twin/res/200/?$rid=1e2fe072")
        self.assertEqual(p.qos, 0)
        self.assertEqual(body, {"desired": {"interval": 10, "$version": 2},
                                "reported": {"$version": 1}})

        p, body = self.request(c, "$iothub/twin/PATCH/properties/reported/?$rid=c78",
                               b'{"firmware":"1.2.3","battery":{"level":87}}')
        self.assertEqual(p.topic, "$iothub/twin/res/204/?$rid=c78&$version=2")
        self.assertEqual(p.payload, b"")
        # QoS 1 (Python) gets its PUBACK; a C SDK GET has an empty body and a numeric rid.
        p, body = self.request(c, "$iothub/twin/PATCH/properties/reported/?$rid=7",
                               b'{"battery":{"level":null,"charging":true}}', qos=1)
        self.assertEqual(p.topic, "$iothub/twin/res/204/?$rid=7&$version=3")
        p, body = self.request(c, "$iothub/twin/GET/?$rid=8", b"", qos=1)
        self.assertEqual(body["reported"], {"firmware": "1.2.3", "battery": {"charging": True},
                                            "$version": 3})

        t = self.twin()
        r = t["properties"]["reported"]
        self.assertEqual(r["$version"], 3)
        self.assertEqual(r["battery"], {"charging": True})
        self.assertRegex(r["$metadata"]["battery"]["charging"]["$lastUpdated"], ISO)
        self.assertNotIn("$lastUpdatedVersion", r["$metadata"]["firmware"])
        self.assertEqual(t["version"], 4)

    def test_errors_carry_error_code_and_change_nothing(self):
        c = self.device(subscribe=(RES,))
        self.request(c, "$iothub/twin/PATCH/properties/reported/?$rid=1", b'{"ok":1}')
        before = self.twin()
        cases = [
            (b'{"broken":', 400006),
            (b'"a string"', 400004),
            (b'{"a.b":1}', 400004),
            (b'{"s":"' + b"x" * 4097 + b'"}', 400004),
            (json.dumps({f"r{i}": "x" * 4000 for i in range(9)}).encode(), 400004),
            (json.dumps(nest(12)).encode(), 400004),
        ]
        for i, (payload, code) in enumerate(cases):
            with self.subTest(code=code, payload=payload[:20]):
                p, body = self.request(c, f"$iothub/twin/PATCH/properties/reported/?$rid=e{i}",
                                       payload)
                self.assertEqual(p.topic, f"$iothub/twin/res/400/?$rid=e{i}")
                self.assertEqual(body["errorCode"], code)
                self.assertTrue(body["message"])
                self.assertRegex(body["trackingId"], r"^[0-9a-f]{32}")
                self.assertRegex(body["timestampUtc"], ISO)
        self.assertEqual(self.twin(), before)

    def test_reported_patch_without_response_subscription_is_applied(self):
        c = self.device(subscribe=())
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", b'{"quiet":true}', qos=1)
        self.assertEqual(c.expect(PUBACK).type, PUBACK)
        c.publish("$iothub/twin/GET/?$rid=2", b" ")
        self.assertTrue(c.is_open())  # PINGRESP, no twin answer before it
        self.assertEqual(self.twin()["properties"]["reported"]["quiet"], True)

    def test_bad_twin_topics_close_the_connection(self):
        for topic in ("$iothub/twin/GET/", "$iothub/twin/GET/?$rid=", "$iothub/twin/FOO/?$rid=1",
                      "$iothub/twin/PATCH/properties/desired/?$rid=1"):
            with self.subTest(topic):
                c = self.device(clean_session=True, subscribe=(RES,))
                c.publish(topic, b"{}")
                took, pkts = c.wait_closed(5)
                self.assertEqual([p for p in pkts if p.type == PUBLISH], [])
        self.assertEqual(self.twin()["properties"]["reported"]["$version"], 1)

    def test_desired_changes_are_pushed(self):
        c = self.device(clean_session=True)
        self.patch_ok({"properties": {"desired": {"interval": 30, "route": None}}})
        p = self.next_publish(c)
        self.assertEqual(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=2")
        self.assertEqual(p.qos, 0)
        self.assertEqual(json.loads(p.payload), {"interval": 30, "route": None, "$version": 2})
        # A tags-only change is not pushed; a replacement pushes the whole desired.
        self.patch_ok({"tags": {"t": 1}})
        self.patch_ok({"properties": {"desired": {"fresh": {"a": 1}}}}, method="PUT")
        p = self.next_publish(c)
        self.assertEqual(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=3")
        self.assertEqual(json.loads(p.payload), {"fresh": {"a": 1}, "$version": 3})

    def test_no_push_without_desired_subscription(self):
        c = self.device(clean_session=True, subscribe=(RES,))
        self.patch_ok({"properties": {"desired": {"interval": 30}}})
        p, body = self.request(c, "$iothub/twin/GET/?$rid=x")  # the first PUBLISH is the answer
        self.assertEqual(p.topic, "$iothub/twin/res/200/?$rid=x")
        self.assertEqual(body["desired"]["interval"], 30)

    def away_and_back(self, restart):
        c = self.device(clean_session=False)
        self.patch_ok({"properties": {"desired": {"a": 1}}})
        self.assertEqual(json.loads(self.next_publish(c).payload), {"a": 1, "$version": 2})
        c.disconnect()
        # Two changes while the device is away.
        self.patch_ok({"properties": {"desired": {"a": None, "b": 2}}})
        self.patch_ok({"properties": {"desired": {"c": {"d": 3}}}})
        if restart:
            self.assertEqual(self.hub.stop(), 0)
            self.hub.start()
        # Back, without subscribing again (Node never re-subscribes twin filters).
        c = self.device(clean_session=False, subscribe=())
        p = self.next_publish(c)
        self.assertEqual(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=4")
        self.assertEqual(json.loads(p.payload), {"b": 2, "c": {"d": 3}, "$version": 4})
        # Live changes go on as patches. QoS 0 proves no delivery, so the next connect
        # repeats the whole document once; the one after has nothing to catch up.
        self.patch_ok({"properties": {"desired": {"b": 5}}})
        self.assertEqual(json.loads(self.next_publish(c).payload), {"b": 5, "$version": 5})
        c.disconnect()
        c = self.device(clean_session=False, subscribe=())
        self.assertEqual(json.loads(self.next_publish(c).payload),
                         {"b": 5, "c": {"d": 3}, "$version": 5})
        c.disconnect()
        c = self.device(clean_session=False, subscribe=())
        c.publish("$iothub/twin/GET/?$rid=after", b" ")
        p = self.next_publish(c)
        self.assertEqual(p.topic, "$iothub/twin/res/200/?$rid=after")

    def test_persistent_session_catches_up_after_reconnect(self):
        self.away_and_back(restart=False)

    def test_persistent_session_catches_up_after_restart(self):
        self.away_and_back(restart=True)

    def test_clean_session_does_not_catch_up(self):
        c = self.device(clean_session=False)
        c.disconnect()
        self.patch_ok({"properties": {"desired": {"a": 1}}})
        c = self.device(clean_session=True, subscribe=(RES,))
        p, _ = self.request(c, "$iothub/twin/GET/?$rid=only")
        self.assertEqual(p.topic, "$iothub/twin/res/200/?$rid=only")


class CliTwins(TwinTestCase):
    def test_show_and_update(self):
        res = self.hub.cli("twin", "update", "dev1", "--desired", '{"interval":30}',
                           "--tags", '{"room":"b43"}', "--json")
        t = json.loads(res.stdout)
        self.assertEqual(t["properties"]["desired"]["interval"], 30)
        self.assertEqual(t["tags"], {"room": "b43"})
        res = self.hub.cli("twin", "show", "dev1", "--json")
        self.assertEqual(json.loads(res.stdout), self.twin())
        res = self.hub.cli("twin", "show", "dev1")
        self.assertIn("b43", res.stdout)
        self.assertIn("interval", res.stdout)
        res = self.hub.cli("twin", "update", "dev1", "--etag", t["etag"], "--patch",
                           '{"properties":{"desired":{"interval":null}}}', "--json")
        self.assertNotIn("interval", json.loads(res.stdout)["properties"]["desired"])

    def test_exit_codes(self):
        self.assertEqual(self.hub.cli("twin", "show", "nobody", check=False).returncode, 4)
        self.assertEqual(self.hub.cli("twin", "update", "dev1", "--etag", "AAAAAAAAAAk=",
                                      "--tags", '{"a":1}', check=False).returncode, 5)
        self.assertEqual(self.hub.cli("twin", "update", "dev1", "--tags", '{"a.b":1}',
                                      check=False).returncode, 7)
        self.assertEqual(self.hub.cli("twin", "update", "dev1", "--tags", "{",
                                      check=False).returncode, 2)
        self.assertEqual(self.hub.cli("twin", "update", "dev1", check=False).returncode, 2)
        self.assertEqual(self.twin()["version"], 1)
        res = self.hub.cli("twin", "update", "--help")
        self.assertIn("--desired", res.stdout)


if __name__ == "__main__":
    unittest.main()
