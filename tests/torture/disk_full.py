"""(b) A full disk: the data directory on a small tmpfs (mounted in the suite's private mount
namespace, so nothing outside sees it).

Messages are PUBACKed, then a filler file takes all but a little of the space and the device
publishes until the hub refuses: the connection must close (MQTT 3.1.1 has no negative
PUBACK) without a PUBACK for what was not stored. While the disk is full the hub must keep
serving: the registry answers, a reconnecting device is refused cleanly again, and an Event
Hubs consumer reads every earlier message. Then the filler goes and, without a restart, the
device publishes again and every message is PUBACKed. Finally the hub stops cleanly and
`--dump-events` holds every PUBACKed message, intact, in a log that reads back clean."""
import os
import subprocess
import tempfile
import threading
import time

from common import (Consumer, Hub, Loader, CheckFailed, check_log_holds, create_device,
                    damaged_files, dump_events, message_id, require)

FS_MB = 24
BODY = 4096


def big_body(mid):
    """4 KiB that prove themselves, so that the disk fills in a few hundred messages."""
    from common import body_for
    b = body_for(mid)
    return (b * (BODY // len(b) + 1))[:BODY]


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """Writes a filler file until at most `leave` bytes are free; returns its path."""
    filler = os.path.join(path, "filler")
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb") as f:
        while free_bytes(path) > leave + len(chunk):
            f.write(chunk)
            f.flush()
        while free_bytes(path) > leave:
            try:
                f.write(b"\0" * 4096)
                f.flush()
            except OSError:
                break
    return filler


class DiskFull:
    def __init__(self, board):
        self.board = board

    def run(self):
        self.board.run(f"disk full: {FS_MB} MiB tmpfs filled under QoS 1 load, then freed",
                       self.check)

    def check(self):
        with tempfile.TemporaryDirectory(prefix="iothubd-diskfull-") as mnt:
            res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m,mode=0700",
                                  "torture-diskfull", mnt], capture_output=True, text=True)
            if res.returncode != 0:
                raise CheckFailed(f"cannot mount a {FS_MB} MiB tmpfs on {mnt} (the check needs "
                                  f"root in a private mount namespace): {res.stderr.strip()}")
            try:
                return self.scenario(mnt)
            finally:
                subprocess.run(["umount", "-l", mnt], capture_output=True)

    def publish(self, hub, dev, tag, limit=None, window=16):
        stop = threading.Event()
        ld = Loader(hub, dev, tag, stop, window=window, limit=limit, body=big_body)
        ld.start()
        ld.join(120)
        stop.set()
        require(not ld.is_alive(), f"{tag}: the device hangs")
        require(ld.error is None, f"{tag}: {ld.error!r}")
        return ld

    def scenario(self, mnt):
        hub = Hub(data_dir=os.path.join(mnt, "data"))
        try:
            hub.start()
            dev = create_device(hub, "disk-a")
            acked = set()

            before = self.publish(hub, dev, "before", limit=200)
            require(before.connack == 0 and len(before.acked) == 200,
                    f"before filling: {len(before.acked)} of 200 PUBACKed")
            acked |= set(before.acked)

            filler = fill(mnt, leave=512 * 1024)
            full = self.publish(hub, dev, "full")  # until the hub closes the connection
            require(full.closed_by_hub, "the hub never refused a message on a full disk")
            require(len(full.sent) > len(full.acked),
                    "the connection closed with every message PUBACKed")
            acked |= set(full.acked)
            t_full = time.monotonic()
            require(any("no space left on the device" in line for line in hub.stderr_lines),
                    "the hub closed the connection but its log does not say the disk is full")

            # Full: the registry answers, earlier messages read back, a device is refused
            # cleanly again (it may connect; its message is not PUBACKed).
            st, _, got = hub.request("GET", "/devices/disk-a")
            require(st == 200 and got.get("deviceId") == "disk-a",
                    f"the registry does not answer on a full disk: {st} {got}")
            again = self.publish(hub, dev, "again", limit=50)
            require(len(again.acked) < 50, "a full disk PUBACKed 50 more 4 KiB messages")
            acked |= set(again.acked)
            consumer = Consumer(hub, {}, until=self.ends(hub, acked), timeout=60)
            rc = consumer.wait(90)
            require(rc == 0, f"an Event Hubs consumer cannot read back on a full disk: exit "
                             f"{rc}, {consumer.stderr[-3:]}")
            read = {e["mid"] for e in consumer.events}
            lost = [m for m in before.acked + full.acked if m not in read]
            require(not lost, f"the consumer misses {len(lost)} PUBACKed messages: {lost[:3]}")

            # Space returns: the hub takes messages again without a restart.
            os.unlink(filler)
            require(hub.proc.poll() is None, "iothubd died on the full disk")
            after = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                after = self.publish(hub, dev, f"after{int(time.monotonic() * 1000)}", limit=100)
                acked |= set(after.acked)
                if len(after.acked) == 100:
                    break
                time.sleep(0.5)
            require(after and len(after.acked) == 100,
                    "after space returned the hub still refuses messages (no restart)")
            recovered_s = time.monotonic() - t_full

            rc = hub.stop()
            require(rc == 0, f"iothubd exited {rc} on SIGTERM after the full disk")
            records = dump_events(hub)
            require(not damaged_files(hub.data_dir), "the full disk left damaged segments")
            check_log_holds(records, acked, "after the full disk", body=big_body)
            mids = [message_id(r) for r in records]
            require(len(mids) == len(set(mids)), "the log holds a message twice (nothing resent)")
            return (f"{len(before.acked)} PUBACKed before; {len(full.acked)} more until the "
                    f"hub closed the connection with {len(full.sent) - len(full.acked)} "
                    f"unacknowledged; registry and consumer served while full; accepted again "
                    f"{recovered_s:.1f} s after filling, without a restart; all {len(acked)} "
                    f"PUBACKed messages intact")
        finally:
            hub.cleanup()

    @staticmethod
    def ends(hub, acked):
        """{partition: sequence number of the newest PUBACKed message}: one device on a fresh
        hub, so its records are sequence numbers 0, 1, ... in send order, and the PUBACKed
        ones come first (PUBACKs go out in storage order)."""
        h = 0x811C9DC5
        for b in b"disk-a":  # FNV-1a 32, the hub's partition hash (eventlog.h)
            h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
        return {str(h % 4): len(acked) - 1}
