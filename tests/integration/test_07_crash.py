"""07: SIGKILL during a QoS 1 load: every PUBACKed message survives, intact and in order.

Three devices publish QoS 1 as fast as the hub acknowledges (a window of messages in flight
each), the daemon is killed mid-load, restarted (recovery), and the stored log must hold
every acknowledged message exactly once (the client never resends, so there may be no
duplicates), each device's records in send order, bodies and properties intact. Three cycles
on one data directory: earlier cycles' messages must survive later crashes too. Then the
same with one device alone on the hub: alone on its network thread, its batches are
committed on that thread (inline) instead of by the partition's writer thread."""
import hashlib
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (Hub, create_device, device_token, dump_events,  # noqa: E402
                     events_by_device)
from mqttraw import (ACCEPTED, PUBACK, Closed, ProtocolError, open_device,  # noqa: E402
                     telemetry_topic)

DEVICES = ["crash-a", "crash-b", "crash-c"]
WINDOW = 64
LOAD_SECONDS = 1.5
CYCLES = 3


def body_for(mid):
    """A body that proves itself: its id, then bytes derived from it (varied lengths)."""
    digest = hashlib.sha256(mid.encode()).digest()
    return mid.encode() + b"|" + digest * (1 + digest[0] % 8)


class Loader(threading.Thread):
    """One device publishing QoS 1 with up to WINDOW messages in flight, until the
    connection dies or stop is set. Never resends."""

    def __init__(self, hub, dev, cycle, stop):
        super().__init__(daemon=True)
        self.hub, self.dev, self.cycle, self.stop = hub, dev, cycle, stop
        self.sent = []      # message ids in send order
        self.acked = []     # message ids whose PUBACK arrived
        self.error = None
        self.client = None

    def run(self):
        did = self.dev["deviceId"]
        try:
            self.client, ack = open_device(self.hub, did, device_token(self.dev), timeout=30)
            if ack.return_code != ACCEPTED:
                raise AssertionError(f"{did}: CONNACK {ack.return_code}")
            c = self.client
            inflight = {}  # packet id -> message id
            order = []     # packet ids in send order (PUBACKs come in this order)
            n = 0
            while not self.stop.is_set():
                while len(inflight) < WINDOW and not self.stop.is_set():
                    mid = f"c{self.cycle}-{did}-{n}"
                    bag = (f"%24.mid={mid}&%24.ct=application%2Foctet-stream&n={n}"
                           f"&cycle={self.cycle}")
                    pid = c.publish(telemetry_topic(did, bag), body_for(mid), qos=1)
                    self.sent.append(mid)
                    inflight[pid] = mid
                    order.append(pid)
                    n += 1
                p = c.read_packet(30)
                if p.type != PUBACK:
                    raise ProtocolError(f"expected PUBACK, got {p!r}")
                if not order or p.packet_id != order[0]:
                    raise ProtocolError(f"PUBACK {p.packet_id} out of order (expected "
                                        f"{order[:1]})")
                order.pop(0)
                self.acked.append(inflight.pop(p.packet_id))
        except (Closed, ConnectionError, TimeoutError):
            pass  # the daemon was killed
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            if self.client:
                self.client.close()


class Crash(unittest.TestCase):
    def setUp(self):
        self.hub = Hub()

    def tearDown(self):
        self.hub.cleanup()

    def test_sigkill_during_qos1_load_loses_no_acknowledged_message(self):
        self.crash_cycles(DEVICES, CYCLES)

    def test_sigkill_during_inline_commits_of_a_lone_device(self):
        self.crash_cycles(["crash-solo"], 2)

    def crash_cycles(self, devices, cycles):
        self.hub.start()
        devs = {d: create_device(self.hub, d) for d in devices}
        acked_all = {d: set() for d in devices}
        sent_all = {d: [] for d in devices}
        first = devices[0]
        for cycle in range(cycles):
            if self.hub.proc is None:
                self.hub.start()
            stop = threading.Event()
            loaders = [Loader(self.hub, devs[d], cycle, stop) for d in devices]
            for ld in loaders:
                ld.start()
            time.sleep(LOAD_SECONDS)
            # Mid-load: every loader is still running with messages in flight.
            for ld in loaders:
                self.assertTrue(ld.is_alive(), f"{ld.dev['deviceId']} stopped early: {ld.error}")
            self.assertEqual(self.hub.stop(sig=signal.SIGKILL), -signal.SIGKILL)
            stop.set()
            for ld in loaders:
                ld.join(30)
                self.assertFalse(ld.is_alive())
                self.assertIsNone(ld.error, f"{ld.dev['deviceId']}: {ld.error!r}")
                did = ld.dev["deviceId"]
                self.assertGreater(len(ld.acked), 0, f"{did}: no message acknowledged")
                self.assertGreaterEqual(len(ld.sent), len(ld.acked))
                acked_all[did] |= set(ld.acked)
                sent_all[did] += ld.sent

            # Restart: recovery, then the hub works again.
            self.hub.start()
            marker = f"after-crash-{cycle}"
            c, ack = open_device(self.hub, first, device_token(devs[first]))
            self.assertEqual(ack.return_code, ACCEPTED)
            c.publish_wait(telemetry_topic(first, f"%24.mid={marker}"), body_for(marker))
            c.disconnect()
            sent_all[first].append(marker)
            acked_all[first].add(marker)
            self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly after recovery")

            self.check_log(dump_events(self.hub), sent_all, acked_all, cycle)

    def check_log(self, records, sent_all, acked_all, cycle):
        by_dev = events_by_device(records)
        self.assertEqual(sorted(by_dev), sorted(sent_all))
        for did in sent_all:
            recs = by_dev[did]
            mids = [r["system"]["message-id"] for r in recs]
            where = f"cycle {cycle}, {did}"
            self.assertEqual(len(mids), len(set(mids)), f"{where}: duplicates without resends")
            missing = acked_all[did] - set(mids)
            self.assertEqual(missing, set(), f"{where}: PUBACKed messages lost")
            # Only messages that were sent, in send order.
            position = {m: i for i, m in enumerate(sent_all[did])}
            unknown = [m for m in mids if m not in position]
            self.assertEqual(unknown, [], f"{where}: records nobody sent")
            idx = [position[m] for m in mids]
            self.assertEqual(idx, sorted(idx), f"{where}: records out of send order")
            # One partition, strictly increasing sequence numbers and offsets.
            self.assertEqual(len({r["partition"] for r in recs}), 1, where)
            seqs = [r["seq"] for r in recs]
            self.assertEqual(seqs, sorted(set(seqs)), where)
            offs = [r["offset"] for r in recs]
            self.assertEqual(offs, sorted(set(offs)), where)
            # Intact: body and properties.
            for r in recs:
                mid = r["system"]["message-id"]
                self.assertEqual(r["body"], body_for(mid), f"{where}: {mid} body damaged")
                self.assertEqual(r["system"]["iothub-connection-device-id"], did)
                if not mid.startswith("after-crash"):
                    n_sent = mid.rsplit("-", 1)[1]
                    cycle_sent = mid.split("-", 1)[0][1:]
                    self.assertEqual(r["app"], {"n": n_sent, "cycle": cycle_sent}, mid)
                    self.assertEqual(r["system"]["content-type"], "application/octet-stream")
        # The log does not end in a gap: partitions' sequence numbers are dense.
        by_part = {}
        for r in records:
            by_part.setdefault(r["partition"], []).append(r["seq"])
        for p, seqs in by_part.items():
            seqs.sort()
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                             f"partition {p}: sequence numbers not dense")


if __name__ == "__main__":
    unittest.main(verbosity=2)
