"""02: the service REST API for the identity registry, over real TLS, with raw requests."""
import base64
import concurrent.futures
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import HubTestCase, sas_token  # noqa: E402

DEVICE_MEMBERS = {"deviceId", "generationId", "etag", "connectionState", "status",
                  "statusReason", "connectionStateUpdatedTime", "statusUpdatedTime",
                  "lastActivityTime", "cloudToDeviceMessageCount", "authentication",
                  "capabilities"}


class Registry(HubTestCase):
    def create(self, device_id, **body):
        body.setdefault("deviceId", device_id)
        return self.hub.request("PUT", f"/devices/{device_id}", body)

    def test_create_generates_keys_and_full_shape(self):
        # What Node's Registry.create sends when the caller gives no keys.
        st, hdrs, dev = self.create("dev1", status="enabled", authentication={
            "type": "sas", "symmetricKey": {"primaryKey": "", "secondaryKey": ""}})
        self.assertEqual(st, 200, dev)
        self.assertEqual(set(dev) - {"deviceScope", "parentScopes"}, DEVICE_MEMBERS)
        self.assertEqual(dev["deviceId"], "dev1")
        self.assertEqual(dev["status"], "enabled")
        self.assertEqual(dev["connectionState"], "Disconnected")
        self.assertEqual(dev["cloudToDeviceMessageCount"], 0)
        self.assertEqual(dev["capabilities"], {"iotEdge": False})
        self.assertEqual(dev["authentication"]["type"], "sas")
        keys = dev["authentication"]["symmetricKey"]
        for k in ("primaryKey", "secondaryKey"):
            self.assertEqual(len(base64.b64decode(keys[k])), 32)
        self.assertNotEqual(keys["primaryKey"], keys["secondaryKey"])
        self.assertRegex(dev["generationId"], r"^\d{18}$")
        self.assertEqual(hdrs["etag"], '"%s"' % dev["etag"])
        self.assertIn("application/json; charset=utf-8", hdrs["content-type"])
        self.assertEqual(dev["lastActivityTime"], "0001-01-01T00:00:00Z")

    def test_create_with_supplied_keys_and_get(self):
        k1 = base64.b64encode(b"1" * 32).decode()
        k2 = base64.b64encode(b"2" * 32).decode()
        st, _, dev = self.create("dev-keys", authentication={
            "type": "sas", "symmetricKey": {"primaryKey": k1, "secondaryKey": k2}})
        self.assertEqual(st, 200, dev)
        st, _, got = self.hub.request("GET", "/devices/dev-keys")
        self.assertEqual(st, 200)
        self.assertEqual(got["authentication"]["symmetricKey"],
                         {"primaryKey": k1, "secondaryKey": k2})
        self.assertEqual(got["etag"], dev["etag"])

    def test_conflict_not_found_and_list(self):
        self.assertEqual(self.create("a")[0], 200)
        self.assertHubError(self.create("a"), 409, "DeviceAlreadyExists")
        self.assertHubError(self.hub.request("GET", "/devices/missing"), 404, "DeviceNotFound")
        self.assertHubError(self.hub.request("DELETE", "/devices/missing"), 404,
                            "DeviceNotFound")
        for i in range(5):
            self.assertEqual(self.create(f"list-{i}")[0], 200)
        st, _, devs = self.hub.request("GET", "/devices/")  # Node's trailing slash
        self.assertEqual(st, 200)
        self.assertEqual(sorted(d["deviceId"] for d in devs),
                         ["a"] + [f"list-{i}" for i in range(5)])
        st, _, devs = self.hub.request("GET", "/devices?top=2")
        self.assertEqual(len(devs), 2)
        st, _, stats = self.hub.request("GET", "/statistics/devices")
        self.assertEqual(stats, {"totalDeviceCount": 6, "enabledDeviceCount": 6,
                                 "disabledDeviceCount": 0})

    def test_update_etags_and_delete(self):
        _, _, dev = self.create("upd")
        # Node's Registry.update body: the whole device back, read-only members in other
        # cases and types, If-Match "*".
        body = dict(dev, status="disabled", statusReason="maintenance",
                    connectionState="disconnected", cloudToDeviceMessageCount="0",
                    lastActivityTime=None)
        st, _, upd = self.hub.request("PUT", "/devices/upd", body, headers={"If-Match": '"*"'})
        self.assertEqual(st, 200, upd)
        self.assertEqual(upd["status"], "disabled")
        self.assertEqual(upd["statusReason"], "maintenance")
        self.assertNotEqual(upd["etag"], dev["etag"])
        self.assertNotEqual(upd["statusUpdatedTime"], "0001-01-01T00:00:00Z")
        self.assertEqual(upd["authentication"], dev["authentication"], "keys kept")
        self.assertEqual(upd["generationId"], dev["generationId"])

        # A stale etag is refused and changes nothing.
        stale = dict(upd, status="enabled")
        self.assertHubError(self.hub.request("PUT", "/devices/upd", stale,
                                             headers={"If-Match": '"%s"' % dev["etag"]}),
                            412, "PreconditionFailed")
        self.assertHubError(self.hub.request("DELETE", "/devices/upd",
                                             headers={"If-Match": '"%s"' % dev["etag"]}),
                            412, "PreconditionFailed")
        _, _, now = self.hub.request("GET", "/devices/upd")
        self.assertEqual(now, upd)

        # The current etag works, quoted or not.
        st, _, again = self.hub.request("PUT", "/devices/upd", stale,
                                        headers={"If-Match": upd["etag"]})
        self.assertEqual(st, 200)
        self.assertEqual(again["status"], "enabled")
        st, _, _ = self.hub.request("DELETE", "/devices/upd",
                                    headers={"If-Match": '"%s"' % again["etag"]})
        self.assertEqual(st, 204)
        self.assertHubError(self.hub.request("GET", "/devices/upd"), 404, "DeviceNotFound")
        # Re-created: a new generation.
        _, _, re = self.create("upd")
        self.assertNotEqual(re["generationId"], dev["generationId"])

    def test_update_missing_device_is_404(self):
        self.assertHubError(self.hub.request("PUT", "/devices/ghost", {"deviceId": "ghost"},
                                             headers={"If-Match": '"*"'}),
                            404, "DeviceNotFound")

    def test_percent_encoded_ids(self):
        device_id = "a+b%c#d*e?f!g(h),i=j@k$l'm"
        from urllib.parse import quote
        st, _, dev = self.hub.request("PUT", "/devices/" + quote(device_id, safe=""),
                                      {"deviceId": device_id})
        self.assertEqual(st, 200, dev)
        self.assertEqual(dev["deviceId"], device_id)
        st, _, got = self.hub.request("GET", "/devices/" + quote(device_id, safe=""))
        self.assertEqual(got["deviceId"], device_id)

    def test_query_select_all(self):
        for i in range(5):
            self.create(f"q{i}")
        st, hdrs, rows = self.hub.request("POST", "/devices/query",
                                          {"query": "SELECT * FROM devices"})
        self.assertEqual(st, 200, rows)
        self.assertEqual(hdrs.get("x-ms-item-type"), "twin")
        self.assertNotIn("x-ms-continuation", hdrs)
        self.assertEqual([r["deviceId"] for r in rows], [f"q{i}" for i in range(5)])
        # Paging: continuation only while more remain.
        seen, cont = [], None
        for _ in range(10):
            extra = {"x-ms-max-item-count": "2"}
            if cont:
                extra["x-ms-continuation"] = cont
            st, hdrs, rows = self.hub.request("POST", "/devices/query",
                                              {"query": "select * from devices"}, headers=extra)
            self.assertEqual(st, 200)
            seen += [r["deviceId"] for r in rows]
            cont = hdrs.get("x-ms-continuation")
            if not cont:
                break
        self.assertEqual(seen, [f"q{i}" for i in range(5)])
        self.assertHubError(self.hub.request("POST", "/devices/query",
                                             {"query": "DROP TABLE devices"}),
                            400, "ArgumentInvalid")

    def test_concurrent_creates_of_one_id_exactly_one_wins(self):
        def create(_):
            return self.create("race")[0]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(create, range(16)))
        self.assertEqual(results.count(200), 1, results)
        self.assertEqual(results.count(409), 15, results)

    def test_keep_alive_connection_serves_many_requests(self):
        conn = self.hub.connection()
        for i in range(20):
            st, _, _ = self.hub.request("PUT", f"/devices/ka{i}", {"deviceId": f"ka{i}"},
                                        conn=conn)
            self.assertEqual(st, 200)
        conn.close()


class Security(HubTestCase):
    def setUp(self):
        super().setUp()
        st, _, self.dev = self.hub.request("PUT", "/devices/victim", {"deviceId": "victim"})
        self.assertEqual(st, 200)

    def assertUnchanged(self):
        st, _, now = self.hub.request("GET", "/devices/victim")
        self.assertEqual(st, 200)
        self.assertEqual(now, self.dev)
        st, _, stats = self.hub.request("GET", "/statistics/devices")
        self.assertEqual(stats["totalDeviceCount"], 1)

    def test_missing_and_garbage_tokens(self):
        self.assertHubError(self.hub.request("GET", "/devices", token=""), 401,
                            "IotHubUnauthorizedAccess")
        for bad in ("Bearer abc", "SharedAccessSignature", "SharedAccessSignature sr=&sig=&se=",
                    "SharedAccessSignature sr=localhost&sig=%ZZ&se=9999999999&skn=iothubowner",
                    "SharedAccessSignature sr=localhost&sig=abc&se=notanumber&skn=iothubowner"):
            self.assertHubError(self.hub.request("DELETE", "/devices/victim", token=bad), 401,
                                "IotHubUnauthorizedAccess")
        self.assertUnchanged()

    def test_expired_token(self):
        tok = self.hub.token(expiry=int(time.time()) - 10)
        self.assertHubError(self.hub.request("DELETE", "/devices/victim", token=tok), 401,
                            "IotHubUnauthorized")
        self.assertUnchanged()

    def test_token_for_another_host(self):
        key = self.hub.policy()["SharedAccessKey"]
        tok = sas_token("otherhub.example.com", key, policy="iothubowner", encode_sr=False)
        self.assertHubError(self.hub.request("DELETE", "/devices/victim", token=tok), 401,
                            "IotHubUnauthorizedAccess")
        self.assertUnchanged()

    def test_wrong_key_and_device_key_token(self):
        wrong = base64.b64encode(b"x" * 32).decode()
        tok = sas_token("localhost", wrong, policy="iothubowner", encode_sr=False)
        self.assertHubError(self.hub.request("DELETE", "/devices/victim", token=tok), 401,
                            "IotHubUnauthorizedAccess")
        # A device's own token never grants service rights.
        devkey = self.dev["authentication"]["symmetricKey"]["primaryKey"]
        tok = sas_token("localhost/devices/victim", devkey)
        self.assertHubError(self.hub.request("DELETE", "/devices/victim", token=tok), 401,
                            "IotHubUnauthorizedAccess")
        self.assertUnchanged()

    def test_policy_permissions(self):
        # registryRead may read, not write; service and device policies may do neither.
        st, _, _ = self.hub.request("GET", "/devices/victim", policy="registryRead")
        self.assertEqual(st, 200)
        self.assertHubError(self.hub.request("DELETE", "/devices/victim", policy="registryRead"),
                            401, "IotHubUnauthorizedAccess")
        self.assertHubError(self.hub.request("PUT", "/devices/new", {"deviceId": "new"},
                                             policy="registryRead"),
                            401, "IotHubUnauthorizedAccess")
        for pol in ("service", "device"):
            self.assertHubError(self.hub.request("GET", "/devices/victim", policy=pol), 401,
                                "IotHubUnauthorizedAccess")
        st, _, _ = self.hub.request("PUT", "/devices/new", {"deviceId": "new"},
                                    policy="registryReadWrite")
        self.assertEqual(st, 200)
        self.hub.request("DELETE", "/devices/new")
        self.assertUnchanged()

    def test_secondary_key_is_accepted(self):
        out = self.hub.policy("iothubowner")
        # The secondary key is not printed; read it through the registry database.
        import sqlite3
        db = sqlite3.connect(os.path.join(self.hub.data_dir, "registry.db"))
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        policy_table = next(t for t in tables if "polic" in t)
        cols = [r[1] for r in db.execute(f"pragma table_info({policy_table})")]
        row = dict(zip(cols, db.execute(f"select * from {policy_table} where name='iothubowner'")
                       .fetchone()))
        db.close()
        secondary = row["secondary_key"]
        self.assertNotEqual(secondary, out["SharedAccessKey"])
        tok = sas_token("localhost", secondary, policy="iothubowner", encode_sr=False)
        st, _, _ = self.hub.request("GET", "/devices/victim", token=tok)
        self.assertEqual(st, 200)

    def test_malformed_bodies(self):
        cases = [
            (b"{not json", 400, "IotHubFormatError"),
            (b"[1,2,3]", 400, "ArgumentInvalid"),
            (json.dumps({"deviceId": "other"}), 400, "ArgumentInvalid"),
            (json.dumps({"deviceId": "victim2", "status": "sleeping"}), 400, "ArgumentInvalid"),
            (json.dumps({"deviceId": "victim2", "authentication": {
                "type": "sas", "symmetricKey": {"primaryKey": "not base64!",
                                                "secondaryKey": ""}}}),
             400, "ArgumentInvalid"),
            (json.dumps({"deviceId": "victim2", "statusReason": "x" * 129}), 400,
             "ArgumentInvalid"),
        ]
        for body, status, code in cases:
            res = self.hub.request("PUT", "/devices/victim2", body)
            self.assertHubError(res, status, code)
        # Bad fields are named.
        _, _, err = self.hub.request("PUT", "/devices/victim2", cases[3][0])
        self.assertIn("status", err["Message"])
        _, _, err = self.hub.request("PUT", "/devices/victim2", cases[4][0])
        self.assertIn("primaryKey", err["Message"])
        # Invalid id in the path.
        self.assertHubError(self.hub.request("PUT", "/devices/bad%20id", {}), 400,
                            "ArgumentInvalid")
        self.assertHubError(self.hub.request("PUT", "/devices/" + "x" * 129, {}), 400,
                            "ArgumentInvalid")
        # Oversized body.
        big = json.dumps({"deviceId": "victim2", "statusReason": "y" * 200_000})
        self.assertHubError(self.hub.request("PUT", "/devices/victim2", big), 413,
                            "MessageTooLarge")
        # The same bad input against an existing device changes nothing.
        res = self.hub.request("PUT", "/devices/victim", b"{oops",
                               headers={"If-Match": '"*"'})
        self.assertHubError(res, 400, "IotHubFormatError")
        self.assertUnchanged()

    def test_unknown_paths_and_methods(self):
        self.assertHubError(self.hub.request("GET", "/nothing/here"), 404, "NotFound")
        self.assertHubError(self.hub.request("POST", "/devices/victim", {}), 405,
                            "MethodNotAllowed")
        self.assertUnchanged()

    def test_garbage_on_the_socket_leaves_hub_healthy(self):
        import socket
        import ssl
        for payload in (b"\x00\xff" * 100, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 10000,
                        b"PUT /devices/victim HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"):
            with socket.create_connection(("localhost", 443)) as raw:
                try:
                    with self.hub.ssl_context().wrap_socket(raw,
                                                            server_hostname="localhost") as s:
                        s.sendall(payload)
                        s.settimeout(5)
                        try:
                            s.recv(1000)
                        except (socket.timeout, ssl.SSLError, ConnectionError):
                            pass
                except (ssl.SSLError, ConnectionError):
                    pass
        # Plain bytes on the TLS port.
        with socket.create_connection(("localhost", 443)) as raw:
            raw.sendall(b"\x16\x03\x01\x00\x05hello")
            raw.settimeout(5)
            try:
                raw.recv(100)
            except (socket.timeout, ConnectionError):
                pass
        self.assertUnchanged()


if __name__ == "__main__":
    unittest.main(verbosity=2)
