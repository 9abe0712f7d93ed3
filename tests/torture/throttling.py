"""Throttling (--throttle-* flags, src/hub/throttle.c): the hub holds a device and the hub to
their device-to-cloud rates by reading more slowly (PUBACKs come later; nothing is dropped,
the connection stays open), refuses connects above the hub's rate with CONNACK 3 (server
unavailable, which the SDKs retry), and loses nothing it PUBACKed. Rates are checked with a
generous margin: this is a torture check on a shared machine, not a benchmark."""
import threading
import time

from common import (ACCEPTED, PUBACK, Closed, Hub, Loader, body_for, check_log_holds,
                    create_device, device_token, dump_events, open_device, require,
                    telemetry_topic)

PER_DEVICE = 40
PER_HUB = 60
CONNECTS = 10
RUN_S = 4.0
QOS0_BURST = 100     # QoS 0 messages sent at once to a device held to PER_DEVICE
BACKLOG_DEVICES = 6  # one message each, at once, on a hub held to 1 message/s


def rate_bound(rate, seconds):
    """What a bucket of `rate` with one second of burst may let through in `seconds`."""
    return rate + rate * seconds * 1.05 + 2


class Throttling:
    def __init__(self, board):
        self.board = board
        self.hub = Hub(args=["--throttle-d2c-per-device", str(PER_DEVICE),
                             "--throttle-d2c-per-hub", str(PER_HUB),
                             "--throttle-connects-per-hub", str(CONNECTS)])
        self.acked = set()

    def run(self):
        try:
            self.hub.start()
            self.board.run(f"throttle connects: {CONNECTS}/s per hub, CONNACK 3 above",
                           self.connects)
            time.sleep(1.5)  # the connect bucket refills for the loaders below
            self.board.run(f"throttle d2c per device: {PER_DEVICE}/s", self.per_device)
            self.board.run(f"throttle d2c per hub: {PER_HUB}/s over two devices", self.per_hub)
            self.board.run(f"throttle d2c QoS 0: held back at {PER_DEVICE}/s, not dropped",
                           self.qos0_held_back)
            self.board.run("throttle: nothing PUBACKed is lost", self.nothing_lost)
        finally:
            self.hub.cleanup()
        self.board.run("throttle d2c backlog beyond a pause: the connection closes, nothing "
                       "PUBACKed is lost", self.backlog_closes)
        self.board.run("throttle d2c per device: a reconnect resumes the bucket, not a full "
                       "one", self.reconnect_resumes)

    def connects(self):
        dev = create_device(self.hub, "thr-conn")
        codes, t0 = [], time.monotonic()
        for _ in range(3 * CONNECTS):
            c, ack = open_device(self.hub, "thr-conn", device_token(dev))
            codes.append(ack.return_code)
            c.close()
        elapsed = time.monotonic() - t0
        accepted = codes.count(ACCEPTED)
        refused = codes.count(3)
        require(accepted + refused == len(codes), f"CONNACK codes other than 0 and 3: {codes}")
        require(refused > 0, f"{len(codes)} connects in {elapsed:.2f} s, none refused")
        require(accepted <= rate_bound(CONNECTS, elapsed),
                f"{accepted} connects accepted in {elapsed:.2f} s at {CONNECTS}/s")
        time.sleep(1.0)
        c, ack = open_device(self.hub, "thr-conn", device_token(dev))
        c.close()
        require(ack.return_code == ACCEPTED, f"a connect a second later got CONNACK "
                                             f"{ack.return_code}")
        return (f"{accepted} accepted and {refused} refused with CONNACK 3 of {len(codes)} "
                f"in {elapsed:.2f} s; accepted again a second later")

    def load(self, names):
        devs = [create_device(self.hub, n) for n in names]
        stop = threading.Event()
        loaders = [Loader(self.hub, d, "thr", stop, window=64) for d in devs]
        t0 = time.monotonic()
        for ld in loaders:
            ld.start()
        time.sleep(RUN_S)
        t_end = time.monotonic()
        stop.set()
        for ld in loaders:
            ld.join(30)
            require(not ld.is_alive(), f"{ld.dev['deviceId']} hangs")
            require(ld.error is None, f"{ld.dev['deviceId']}: {ld.error!r}")
            require(ld.connack == ACCEPTED, f"{ld.dev['deviceId']}: CONNACK {ld.connack}")
            require(not ld.closed_by_hub, f"{ld.dev['deviceId']}: the hub closed the "
                                          f"connection instead of slowing it down")
            self.acked |= set(ld.acked)
        counts = [sum(1 for t in ld.ack_times if t <= t_end) for ld in loaders]
        return counts, t_end - t0

    def per_device(self):
        (n,), secs = self.load(["thr-a"])
        require(n <= rate_bound(PER_DEVICE, secs),
                f"{n} PUBACKs in {secs:.1f} s at {PER_DEVICE}/s per device")
        require(n >= PER_DEVICE * secs * 0.5,
                f"only {n} PUBACKs in {secs:.1f} s: the throttle holds back far below "
                f"{PER_DEVICE}/s")
        return f"{n} PUBACKs in {secs:.1f} s ({n / secs:.0f}/s with the burst), connection open"

    def per_hub(self):
        counts, secs = self.load(["thr-b", "thr-c"])
        total = sum(counts)
        require(total <= rate_bound(PER_HUB, secs),
                f"{total} PUBACKs in {secs:.1f} s over two devices at {PER_HUB}/s per hub")
        require(min(counts) >= PER_HUB * secs * 0.15,
                f"one device starves under the hub's rate: {counts}")
        return f"{counts} PUBACKs in {secs:.1f} s ({total / secs:.0f}/s with the burst)"

    def qos0_held_back(self):
        """QoS 0 has no PUBACK to delay: the hub stops reading instead, so a PINGREQ sent
        behind a burst is answered only when the burst has been read at the rate."""
        dev = create_device(self.hub, "thr-q0")
        c, ack = open_device(self.hub, "thr-q0", device_token(dev))
        require(ack.return_code == ACCEPTED, f"CONNACK {ack.return_code}")
        n = QOS0_BURST
        t0 = time.monotonic()
        for i in range(n):
            c.publish(telemetry_topic("thr-q0", f"%24.mid=q0-{i}"), body_for(f"q0-{i}"), qos=0)
        c.ping(timeout=60)
        waited = time.monotonic() - t0
        c.disconnect()
        self.qos0 = [f"q0-{i}" for i in range(n)]
        least = (n - PER_DEVICE - 1) / PER_DEVICE * 0.9
        require(waited >= least, f"{n} QoS 0 messages and a PINGREQ went through in "
                                 f"{waited:.2f} s: not held back to {PER_DEVICE}/s")
        return f"{n} QoS 0 messages read in {waited:.2f} s (at least {least:.2f} s expected)"

    def nothing_lost(self):
        rc = self.hub.stop()
        require(rc == 0, f"iothubd exited {rc} on SIGTERM")
        records = dump_events(self.hub)
        check_log_holds(records, self.acked, "throttled hub")
        check_log_holds(records, getattr(self, "qos0", []), "throttled QoS 0 (none dropped)")
        return (f"all {len(self.acked)} PUBACKed messages and all {len(getattr(self, 'qos0', []))}"
                f" throttled QoS 0 messages in the log of {len(records)} records")

    def backlog_closes(self):
        """A hub rate of 1/s and devices with a 2 s keep-alive (a pause may last 1.5 s): the
        devices that would wait longer are disconnected (they resend), the others PUBACKed."""
        hub = Hub(args=["--throttle-d2c-per-hub", "1"])
        try:
            hub.start()
            clients, acked, closed = [], set(), 0
            for i in range(BACKLOG_DEVICES):
                did = f"thr-backlog-{i}"
                dev = create_device(hub, did)
                c, ack = open_device(hub, did, device_token(dev), keepalive=2)
                require(ack.return_code == ACCEPTED, f"{did}: CONNACK {ack.return_code}")
                clients.append((did, c))
            for did, c in clients:  # one message each, all at once
                c.publish(telemetry_topic(did, f"%24.mid=bl-{did}"), body_for(f"bl-{did}"), qos=1)
            for did, c in clients:
                try:
                    p = c.read_packet(15)
                    require(p.type == PUBACK, f"{did}: expected PUBACK, got {p!r}")
                    acked.add(f"bl-{did}")
                except Closed:
                    closed += 1
                c.close()
            require(closed > 0, f"{BACKLOG_DEVICES} devices at once on a 1/s hub: none was "
                                f"disconnected")
            require(acked, "no device got its PUBACK")
            require(any("telemetry throttled" in line for line in hub.stderr_lines),
                    "the hub's log does not say why it closed the connections")
            rc = hub.stop()
            require(rc == 0, f"iothubd exited {rc} on SIGTERM")
            records = dump_events(hub)
            check_log_holds(records, acked, "backlog")
            return (f"{len(acked)} PUBACKed, {closed} disconnected of {BACKLOG_DEVICES}; every "
                    f"PUBACKed message in the log")
        finally:
            hub.cleanup()

    @staticmethod
    def send_qos0_then_ping(c, device, tag, n):
        t0 = time.monotonic()
        for i in range(n):
            c.publish(telemetry_topic(device, f"%24.mid={tag}-{i}"), body_for(f"{tag}-{i}"),
                      qos=0)
        c.ping(timeout=60)
        return time.monotonic() - t0

    def reconnect_resumes(self):
        """On a hub with only the per-device rate: two seconds of messages at once empty the
        device's bucket (the PINGREQ behind them is answered after about one); the device
        disconnects and reconnects at once. One second of messages must then still wait: a
        fresh bucket would let them through at once. Then a third connection replaces the
        second while it is open (as a device does whose old socket the hub has not seen
        die): the same. None is dropped."""
        hub = Hub(args=["--throttle-d2c-per-device", str(PER_DEVICE)])
        try:
            hub.start()
            dev = create_device(hub, "thr-r")
            c, ack = open_device(hub, "thr-r", device_token(dev))
            require(ack.return_code == ACCEPTED, f"CONNACK {ack.return_code}")
            first = self.send_qos0_then_ping(c, "thr-r", "r1", 2 * PER_DEVICE)
            c.disconnect()
            c, ack = open_device(hub, "thr-r", device_token(dev))
            require(ack.return_code == ACCEPTED, f"reconnect: CONNACK {ack.return_code}")
            second = self.send_qos0_then_ping(c, "thr-r", "r2", PER_DEVICE)
            require(second >= 0.5, f"after a reconnect {PER_DEVICE} messages went through "
                                   f"in {second:.2f} s: the device got a full bucket back")
            c2, ack = open_device(hub, "thr-r", device_token(dev))  # replaces c, still open
            require(ack.return_code == ACCEPTED, f"replacing: CONNACK {ack.return_code}")
            # The replaced connection saves its bucket when it closes, a moment after this
            # CONNACK; a device's first PUBLISH comes later than that in practice.
            time.sleep(0.05)
            third = self.send_qos0_then_ping(c2, "thr-r", "r3", PER_DEVICE)
            c2.disconnect()
            c.close()
            require(third >= 0.5, f"after replacing a live connection {PER_DEVICE} messages "
                                  f"went through in {third:.2f} s: a full bucket")
            rc = hub.stop()
            require(rc == 0, f"iothubd exited {rc} on SIGTERM")
            sent = ([f"r1-{i}" for i in range(2 * PER_DEVICE)] +
                    [f"r{k}-{i}" for k in (2, 3) for i in range(PER_DEVICE)])
            check_log_holds(dump_events(hub), sent, "throttled QoS 0 across reconnects")
            return (f"{2 * PER_DEVICE} messages read in {first:.2f} s; after a reconnect "
                    f"{PER_DEVICE} more in {second:.2f} s, after a replacing connection "
                    f"{PER_DEVICE} more in {third:.2f} s (a full bucket: at once); all in "
                    f"the log")
        finally:
            hub.cleanup()
