"""06: registry changes bite live MQTT connections at once, and the registry shows presence.

Disabling or deleting a device, or changing its keys, closes its connection within a second
and keeps it out until the change is undone; a second connection of one device replaces the
first; connectionState and lastActivityTime follow the connections."""
import base64
import concurrent.futures
import datetime
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (HubTestCase, create_device, device_token, dump_events,  # noqa: E402
                     events_by_device, sas_token)
from mqttraw import (ACCEPTED, NOT_AUTHORIZED, Closed, open_device,  # noqa: E402
                     telemetry_topic)

NEVER = "0001-01-01T00:00:00Z"


def parse_time(s):
    """The registry's ISO 8601 UTC times, with 0 to 7 fraction digits."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?Z", s)
    if not m:
        raise AssertionError(f"not an ISO 8601 UTC time: {s!r}")
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return t.timestamp() + frac


class RegistryChanges(HubTestCase):
    def setUp(self):
        super().setUp()
        self.dev = create_device(self.hub, "dev1")

    # -- helpers ------------------------------------------------------------------------
    def connected(self, dev=None, password=None, **kw):
        dev = dev or self.dev
        c, ack = open_device(self.hub, dev["deviceId"], password or device_token(dev), **kw)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED, f"CONNACK for {dev['deviceId']}")
        return c

    def assertRefused(self, device_id, password, msg=None):
        c, ack = open_device(self.hub, device_id, password)
        try:
            self.assertEqual(ack.return_code, NOT_AUTHORIZED, msg)
            took, pkts = c.wait_closed(5)
            self.assertEqual(pkts, [], msg)
        finally:
            c.close()

    def get(self, device_id="dev1"):
        st, _, dev = self.hub.request("GET", f"/devices/{device_id}")
        self.assertEqual(st, 200, dev)
        return dev

    def update(self, **changes):
        body = dict(self.get(), **changes)
        st, _, dev = self.hub.request("PUT", "/devices/dev1", body, headers={"If-Match": '"*"'})
        self.assertEqual(st, 200, dev)
        return dev

    def closed_within(self, client, action, limit=1.0):
        """Runs action() while watching client; returns the seconds from the start of the
        action to the connection's close (fails if it is not closed within limit + 2 s)."""
        def watch():
            client.wait_closed(limit + 2)
            return time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(watch)
            time.sleep(0.05)
            start = time.monotonic()
            result = action()
            try:
                closed_at = fut.result()
            except TimeoutError:
                self.fail("the connection was not closed")
        took = closed_at - start
        self.assertLess(took, limit, f"closed only after {took:.3f} s")
        return result

    def wait_for(self, predicate, timeout=2.5, what="condition"):
        """Polls GET /devices/dev1 until predicate(device) holds; returns (device, seconds)."""
        start = time.monotonic()
        while True:
            dev = self.get()
            if predicate(dev):
                return dev, time.monotonic() - start
            if time.monotonic() - start > timeout:
                self.fail(f"{what} not reached within {timeout} s: {dev}")
            time.sleep(0.1)

    # -- tests --------------------------------------------------------------------------
    def test_disable_closes_at_once_and_keeps_the_device_out_until_enabled(self):
        tok = device_token(self.dev)
        c = self.connected(password=tok)
        self.assertTrue(c.is_open(2))
        self.closed_within(c, lambda: self.update(status="disabled"))
        for _ in range(2):
            self.assertRefused("dev1", tok, "disabled")
        self.wait_for(lambda d: d["connectionState"] == "Disconnected", what="Disconnected")
        self.update(status="enabled")
        c = self.connected(password=tok)
        c.publish_wait(telemetry_topic("dev1", "%24.mid=back"), b"enabled again")
        c.disconnect()
        self.assertEqual(self.hub.stop(), 0)
        got = events_by_device(dump_events(self.hub))
        self.assertEqual([r["system"]["message-id"] for r in got["dev1"]], ["back"])

    def test_disable_during_a_qos1_load(self):
        """Closing a connection with appends still in flight: every PUBACKed message is
        stored, in order, and nothing is freed twice (ASan watches)."""
        c = self.connected(timeout=30)
        acked, errors = [], []

        def load():
            inflight, n = [], 0
            try:
                while True:
                    while len(inflight) < 64:
                        pid = c.publish(telemetry_topic("dev1", f"%24.mid=l{n}"), b"y" * 100,
                                        qos=1)
                        inflight.append((pid, n))
                        n += 1
                    p = c.read_packet(10)
                    if p.packet_id != inflight[0][0]:
                        raise AssertionError(f"PUBACK {p!r} out of order")
                    acked.append(inflight.pop(0)[1])
            except Closed:
                pass
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(load)
            time.sleep(1)
            start = time.monotonic()
            self.update(status="disabled")
            fut.result(timeout=5)
            took = time.monotonic() - start
        self.assertEqual(errors, [])
        self.assertLess(took, 1.0)
        self.assertGreater(len(acked), 0)
        self.assertEqual(self.hub.stop(), 0)
        ids = [int(r["system"]["message-id"][1:])
               for r in events_by_device(dump_events(self.hub))["dev1"]]
        self.assertEqual(ids, list(range(len(ids))), "in order, no gaps, no duplicates")
        self.assertGreaterEqual(len(ids), len(acked), "every PUBACKed message is stored")

    def test_delete_closes_at_once_and_a_new_device_of_the_same_id_is_a_new_generation(self):
        keys = self.dev["authentication"]["symmetricKey"]
        tok = device_token(self.dev)
        c = self.connected(password=tok, clean_session=False)
        self.assertEqual(c.subscribe([("$iothub/twin/res/#", 1)]), [1])

        def delete():
            st, _, _ = self.hub.request("DELETE", "/devices/dev1")
            self.assertEqual(st, 204)
        self.closed_within(c, delete)
        self.assertRefused("dev1", tok, "deleted")
        again = create_device(self.hub, "dev1", authentication={
            "type": "sas", "symmetricKey": dict(keys)})
        self.assertNotEqual(again["generationId"], self.dev["generationId"])
        # Same keys: the same token works; the old device's session went with it.
        c, ack = open_device(self.hub, "dev1", tok, clean_session=False)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED)
        self.assertFalse(ack.session_present, "a new device has no session of the old one")
        c.publish_wait(telemetry_topic("dev1", "%24.mid=reborn"), b"x")
        c.disconnect()
        self.assertEqual(self.hub.stop(), 0)
        [rec] = dump_events(self.hub)
        self.assertEqual(rec["system"]["iothub-connection-auth-generation-id"],
                         again["generationId"])

    def test_key_change_closes_at_once_and_only_the_new_key_works(self):
        old_primary = device_token(self.dev)
        old_secondary = device_token(self.dev, which="secondaryKey")
        c = self.connected(password=old_primary)
        new = {"primaryKey": base64.b64encode(b"P" * 32).decode(),
               "secondaryKey": base64.b64encode(b"S" * 32).decode()}
        self.closed_within(c, lambda: self.update(authentication={"type": "sas",
                                                                  "symmetricKey": new}))
        self.assertRefused("dev1", old_primary, "old primary key")
        self.assertRefused("dev1", old_secondary, "old secondary key")
        fresh = sas_token("localhost/devices/dev1", new["primaryKey"])
        c = self.connected(password=fresh)
        # Changing only the secondary key also closes connections.
        newer = dict(new, secondaryKey=base64.b64encode(b"T" * 32).decode())
        self.closed_within(c, lambda: self.update(authentication={"type": "sas",
                                                                  "symmetricKey": newer}))
        self.connected(password=sas_token("localhost/devices/dev1",
                                          newer["secondaryKey"])).disconnect()
        self.assertRefused("dev1", sas_token("localhost/devices/dev1", new["secondaryKey"]))

    def test_unrelated_changes_do_not_disconnect(self):
        c = self.connected()
        self.update(statusReason="just a note")
        create_device(self.hub, "other")
        st, _, _ = self.hub.request("DELETE", "/devices/other")
        self.assertEqual(st, 204)
        time.sleep(1)
        self.assertTrue(c.is_open(2), "an update that changes no credentials or status")
        c.disconnect()

    def test_a_second_connection_replaces_the_first(self):
        first = self.connected()
        self.assertTrue(first.is_open(2))
        # Several rounds: which of the two connections' presence reports lands last is a
        # matter of thread timing, so one round could pass by luck.
        for round_ in range(5):
            second = self.closed_within(first, lambda: self.connected())
            self.assertTrue(second.is_open(2))
            second.publish_wait(telemetry_topic("dev1", f"%24.mid=second-{round_}"), b"2")
            # The registry still shows the device connected: the replaced connection's
            # close must not mark it disconnected.
            time.sleep(1.3)  # past a presence flush
            self.assertEqual(self.get()["connectionState"], "Connected",
                             f"round {round_}: the device is connected, on its new connection")
            first = second
        first.disconnect()
        self.wait_for(lambda d: d["connectionState"] == "Disconnected", what="Disconnected")
        self.assertEqual(self.hub.stop(), 0)
        got = events_by_device(dump_events(self.hub))
        self.assertEqual([r["system"]["message-id"] for r in got["dev1"]],
                         [f"second-{i}" for i in range(5)])

    def test_connection_state_and_last_activity(self):
        d0 = self.get()
        self.assertEqual(d0["connectionState"], "Disconnected")
        self.assertEqual(d0["lastActivityTime"], NEVER)
        before = time.time()
        c = self.connected()
        d1, took = self.wait_for(lambda d: d["connectionState"] == "Connected", what="Connected")
        self.assertLess(took, 2.5)
        changed = parse_time(d1["connectionStateUpdatedTime"])
        self.assertGreaterEqual(changed, before - 1)
        self.assertLessEqual(changed, time.time() + 1)

        # Traffic moves lastActivityTime forward (reported at most about once a second).
        def activity(d):
            return 0.0 if d["lastActivityTime"] == NEVER else parse_time(d["lastActivityTime"])
        last = activity(d1)
        for step in range(2):
            time.sleep(1.2)
            sent = time.time()
            if step == 0:
                c.publish_wait(telemetry_topic("dev1", "%24.mid=a"), b"activity")
            else:
                c.ping()
            d, _ = self.wait_for(lambda d: activity(d) > last, what="lastActivityTime advanced")
            self.assertGreaterEqual(activity(d), sent - 1)
            self.assertLessEqual(activity(d), time.time() + 1)
            last = activity(d)

        c.disconnect()
        d2, took = self.wait_for(lambda d: d["connectionState"] == "Disconnected",
                                 what="Disconnected")
        self.assertGreaterEqual(parse_time(d2["connectionStateUpdatedTime"]), changed)
        # An abrupt close (no DISCONNECT) is seen too.
        c = self.connected()
        self.wait_for(lambda d: d["connectionState"] == "Connected", what="Connected again")
        c.close()
        self.wait_for(lambda d: d["connectionState"] == "Disconnected",
                      what="Disconnected after a dropped socket")


if __name__ == "__main__":
    unittest.main(verbosity=2)
