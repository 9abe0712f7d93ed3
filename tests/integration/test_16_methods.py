"""16: direct methods (spec 2.9, 3.6): POST /twins/{id}/methods proxied to a raw MQTT device.

The device is tests/support/mqttraw.py: it subscribes to $iothub/methods/POST/#, reads the
hub's request PUBLISH byte for byte and answers on $iothub/methods/res/{status}/?$rid=.
The service side is Python's http.client with its own SAS, and the iothub CLI."""
import concurrent.futures
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import HubTestCase, create_device, device_token  # noqa: E402
from mqttraw import ACCEPTED, PUBACK, PUBLISH, open_device  # noqa: E402

METHODS_FILTER = "$iothub/methods/POST/#"
REQUEST_TOPIC = re.compile(r"\$iothub/methods/POST/([^/]+)/\?\$rid=([0-9A-Za-z-]+)")


class DirectMethods(HubTestCase):
    def setUp(self):
        super().setUp()
        self.dev = create_device(self.hub, "dev1")
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
        self.devices = []

    def tearDown(self):
        for c in self.devices:
            c.close()
        self.pool.shutdown(wait=True)
        super().tearDown()

    # -- helpers ------------------------------------------------------------------------
    def device(self, subscribe=True, clean_session=True):
        c, ack = open_device(self.hub, "dev1", device_token(self.dev),
                             clean_session=clean_session)
        self.devices.append(c)
        self.assertEqual(ack.return_code, ACCEPTED)
        if subscribe:
            self.assertEqual(c.subscribe([(METHODS_FILTER, 0)]), [0])
        return c

    def invoke(self, body, device_id="dev1"):
        """Starts POST /twins/{id}/methods in a thread; returns its future."""
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.pool.submit(self.hub.request, "POST", f"/twins/{device_id}/methods", raw)

    def read_request(self, c, timeout=10):
        """The hub's method request: (method name, rid, payload bytes)."""
        p = c.expect(PUBLISH, timeout)
        self.assertEqual(p.qos, 0, "method requests go at QoS 0")
        m = REQUEST_TOPIC.fullmatch(p.topic)
        self.assertIsNotNone(m, f"unexpected request topic {p.topic!r}")
        return m.group(1), m.group(2), p.payload

    def answer(self, c, rid, status, payload, qos=0):
        pid = c.publish(f"$iothub/methods/res/{status}/?$rid={rid}", payload, qos=qos)
        if qos:
            self.assertEqual(c.expect(PUBACK).packet_id, pid)

    # -- round trips --------------------------------------------------------------------
    def test_round_trip_with_payload_and_custom_status(self):
        c = self.device()
        fut = self.invoke({"methodName": "reboot", "payload": {"delay": 5},
                           "responseTimeoutInSeconds": 15, "connectTimeoutInSeconds": 0})
        name, rid, payload = self.read_request(c)
        self.assertEqual(name, "reboot")
        self.assertEqual(json.loads(payload), {"delay": 5})
        self.answer(c, rid, 201, b'{"rebooting":true,"in":5}', qos=1)
        st, headers, body = fut.result(timeout=15)
        self.assertEqual(st, 200, body)
        self.assertIn("application/json", headers["content-type"])
        self.assertEqual(body, {"status": 201, "payload": {"rebooting": True, "in": 5}})

    def test_device_status_is_passed_through_with_http_200(self):
        c = self.device()
        fut = self.invoke({"methodName": "fail", "payload": "x"})
        _, rid, payload = self.read_request(c)
        self.assertEqual(payload, b'"x"')
        self.answer(c, rid, 500, b'{"error":"boom"}')
        st, _, body = fut.result(timeout=15)
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"status": 500, "payload": {"error": "boom"}})

    def test_null_and_absent_payload_are_sent_as_null(self):
        c = self.device()
        for body in ({"methodName": "m1", "payload": None}, {"methodName": "m2"}):
            fut = self.invoke(body)
            name, rid, payload = self.read_request(c)
            self.assertEqual(name, body["methodName"])
            self.assertEqual(payload, b"null", "never an empty payload (Node answers 400)")
            self.answer(c, rid, 200, b"")  # an empty answer is a null payload
            st, _, res = fut.result(timeout=15)
            self.assertEqual(st, 200, res)
            self.assertEqual(res, {"status": 200, "payload": None})

    def test_rids_are_unique_and_answers_match_their_call(self):
        c = self.device()
        f1 = self.invoke({"methodName": "a", "payload": 1})
        _, rid1, _ = self.read_request(c)
        f2 = self.invoke({"methodName": "b", "payload": 2})
        _, rid2, _ = self.read_request(c)
        self.assertNotEqual(rid1, rid2)
        self.answer(c, rid2, 202, b'"second"')
        self.answer(c, rid1, 201, b'"first"')
        self.assertEqual(f1.result(timeout=15)[2], {"status": 201, "payload": "first"})
        self.assertEqual(f2.result(timeout=15)[2], {"status": 202, "payload": "second"})

    def test_non_json_answer_is_502(self):
        c = self.device()
        fut = self.invoke({"methodName": "m", "payload": {}})
        _, rid, _ = self.read_request(c)
        self.answer(c, rid, 200, b"not json {")
        self.assertHubError(fut.result(timeout=15), 502, "InvalidResponseWhileProxying")

    def test_no_answer_is_504_and_a_late_answer_is_dropped(self):
        c = self.device()
        fut = self.invoke({"methodName": "slow", "responseTimeoutInSeconds": 5})
        _, rid, _ = self.read_request(c)
        self.assertHubError(fut.result(timeout=30), 504, "GatewayTimeout")
        self.answer(c, rid, 200, b"{}", qos=1)  # still acknowledged, then dropped
        c.ping()
        self.assertTrue(c.is_open())

    def test_unknown_rid_and_bad_status_are_dropped(self):
        c = self.device()
        fut = self.invoke({"methodName": "m"})
        _, rid, _ = self.read_request(c)
        self.answer(c, "999999999", 200, b"{}", qos=1)
        self.answer(c, rid, "abc", b"{}", qos=1)
        c.publish(f"$iothub/methods/res/200?$rid={rid}", b"{}")  # no '/' before '?'
        c.ping()
        self.assertFalse(fut.done())
        self.answer(c, rid, 204, b"{}")
        self.assertEqual(fut.result(timeout=15)[2], {"status": 204, "payload": {}})

    # -- reachability -------------------------------------------------------------------
    def test_offline_device_is_404103_at_once(self):
        res = self.invoke({"methodName": "reboot", "payload": None,
                           "responseTimeoutInSeconds": 5}).result(timeout=15)
        self.assertHubError(res, 404, "DeviceNotOnline")
        self.assertIn("ExceptionMessage", res[2])

    def test_connected_but_not_subscribed_is_404103(self):
        c = self.device(subscribe=False)
        self.assertHubError(self.invoke({"methodName": "m"}).result(timeout=15), 404,
                            "DeviceNotOnline")
        self.assertTrue(c.is_open())

    def test_connect_timeout_waits_for_the_device(self):
        fut = self.invoke({"methodName": "wake", "payload": [1, 2],
                           "connectTimeoutInSeconds": 20, "responseTimeoutInSeconds": 10})
        time.sleep(1)
        self.assertFalse(fut.done())
        c = self.device()
        name, rid, payload = self.read_request(c)
        self.assertEqual((name, json.loads(payload)), ("wake", [1, 2]))
        self.answer(c, rid, 200, b'{"awake":true}')
        st, _, body = fut.result(timeout=15)
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"status": 200, "payload": {"awake": True}})

    def test_connect_timeout_with_stored_subscription(self):
        c = self.device(clean_session=False)
        c.disconnect()
        fut = self.invoke({"methodName": "resume", "connectTimeoutInSeconds": 20})
        time.sleep(1)
        c2 = self.device(subscribe=False, clean_session=False)  # session keeps the filter
        _, rid, _ = self.read_request(c2)
        self.answer(c2, rid, 200, b"1")
        self.assertEqual(fut.result(timeout=15)[2], {"status": 200, "payload": 1})

    def test_response_timeout_counts_from_delivery(self):
        # An online device that never answers: 504 after the response timeout, not after
        # the (longer) connect timeout.
        c = self.device()
        fut = self.invoke({"methodName": "m", "connectTimeoutInSeconds": 120,
                           "responseTimeoutInSeconds": 5})
        self.read_request(c)
        self.assertHubError(fut.result(timeout=60), 504, "GatewayTimeout")

    def test_connect_timeout_expires_with_404103(self):
        res = self.invoke({"methodName": "m", "connectTimeoutInSeconds": 1}).result(timeout=15)
        self.assertHubError(res, 404, "DeviceNotOnline")

    def test_device_disconnecting_mid_call_is_404103(self):
        c = self.device()
        fut = self.invoke({"methodName": "m", "responseTimeoutInSeconds": 60})
        self.read_request(c)
        c.close()
        self.assertHubError(fut.result(timeout=15), 404, "DeviceNotOnline")

    # -- the service side going away -----------------------------------------------------
    def test_http_client_gone_before_the_answer(self):
        c = self.device()
        conn = self.hub.connection()
        conn.request("POST", "/twins/dev1/methods?api-version=2021-04-12",
                     body=json.dumps({"methodName": "m"}),
                     headers={"Authorization": self.hub.token(),
                              "Content-Type": "application/json"})
        _, rid, _ = self.read_request(c)
        conn.close()  # the caller gives up; the hub notices when it writes the answer
        self.answer(c, rid, 200, b"{}")
        fut = self.invoke({"methodName": "after"})
        _, rid2, _ = self.read_request(c)
        self.answer(c, rid2, 200, b"2")
        self.assertEqual(fut.result(timeout=15)[2], {"status": 200, "payload": 2})

    def test_hub_stops_cleanly_with_calls_pending(self):
        c = self.device()
        delivered = self.invoke({"methodName": "m", "responseTimeoutInSeconds": 60})
        self.read_request(c)
        create_device(self.hub, "dev2")
        waiting = self.invoke({"methodName": "m", "connectTimeoutInSeconds": 60}, "dev2")
        time.sleep(0.5)
        self.assertFalse(delivered.done() or waiting.done())
        self.assertEqual(self.hub.stop(), 0)  # and no sanitizer report: no leak, no UAF
        dropped = [l for l in self.hub.stderr_lines if "direct method call dropped" in l]
        self.assertEqual(len(dropped), 2, "\n".join(self.hub.stderr_lines))
        for fut in (delivered, waiting):
            with self.assertRaises(Exception):
                fut.result(timeout=15)

    # -- validation ---------------------------------------------------------------------
    def test_unknown_device_is_404001(self):
        self.assertHubError(self.invoke({"methodName": "m"}, device_id="nobody").result(), 404,
                            "DeviceNotFound")

    def test_bad_requests(self):
        self.device()
        cases = [
            ({"payload": 1}, "ArgumentNull"),
            ({"methodName": ""}, "ArgumentInvalid"),
            ({"methodName": "a/b"}, "ArgumentInvalid"),
            ({"methodName": "a+b"}, "ArgumentInvalid"),
            ({"methodName": "with space"}, "ArgumentInvalid"),
            ({"methodName": 5}, "ArgumentInvalid"),
            ({"methodName": "m" * 129}, "ArgumentInvalid"),
            ({"methodName": "m", "responseTimeoutInSeconds": 4}, "ArgumentInvalid"),
            ({"methodName": "m", "responseTimeoutInSeconds": 301}, "ArgumentInvalid"),
            ({"methodName": "m", "responseTimeoutInSeconds": "30"}, "ArgumentInvalid"),
            ({"methodName": "m", "responseTimeoutInSeconds": 7.5}, "ArgumentInvalid"),
            ({"methodName": "m", "connectTimeoutInSeconds": -1}, "ArgumentInvalid"),
            ({"methodName": "m", "connectTimeoutInSeconds": 301}, "ArgumentInvalid"),
        ]
        for body, code in cases:
            with self.subTest(body=body):
                self.assertHubError(self.invoke(body).result(timeout=15), 400, code)
        self.assertHubError(self.invoke('{"methodName": "m",').result(timeout=15), 400,
                            "IotHubFormatError")

    def test_oversized_payload_is_413(self):
        self.device()
        big = {"methodName": "m", "payload": "x" * (128 * 1024)}
        self.assertHubError(self.invoke(big).result(timeout=15), 413, "MessageTooLarge")

    def test_needs_service_connect(self):
        res = self.pool.submit(self.hub.request, "POST", "/twins/dev1/methods",
                               {"methodName": "m"}, policy="registryRead").result(timeout=15)
        self.assertHubError(res, 401, "IotHubUnauthorizedAccess")

    # -- the CLI ------------------------------------------------------------------------
    def test_cli_method_invoke(self):
        c = self.device()
        fut = self.pool.submit(self.hub.cli, "method", "invoke", "dev1", "ping", "--payload",
                               '{"n":1}', "--timeout", "10")
        name, rid, payload = self.read_request(c)
        self.assertEqual((name, json.loads(payload)), ("ping", {"n": 1}))
        self.answer(c, rid, 200, b'{"pong":1}')
        res = fut.result(timeout=30)
        self.assertEqual(json.loads(res.stdout), {"status": 200, "payload": {"pong": 1}})

        res = self.hub.cli("method", "invoke", "nobody", "ping", check=False)
        self.assertEqual(res.returncode, 4, res.stderr)
        self.assertIn("DeviceNotFound", res.stderr)
        c.close()
        res = self.hub.cli("method", "invoke", "dev1", "ping", check=False)
        self.assertEqual(res.returncode, 4, res.stderr)
        self.assertIn("DeviceNotOnline", res.stderr)
        res = self.hub.cli("method", "invoke", "dev1", "ping", "--payload", "{bad", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        res = self.hub.cli("method", "invoke", "dev1", "ping", "--timeout", "4", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)


if __name__ == "__main__":
    unittest.main()
