"""(a) SIGKILL at random moments under QoS 1 load from several devices.

Each cycle: the hub runs, DEVICES devices publish QoS 1 (a window in flight each) and an
Event Hubs consumer reads from its saved offsets; at a random moment the hub is SIGKILLed
and so is the consumer (its checkpoint is the last event it printed). The moment is drawn
from the suite's seed: 0.3 to 2 s after every device got its first PUBACK and the consumer
its first event. With the hub stopped,
`iothubd --dump-events` must read the whole log (every record's CRC32C is checked on the
read; recovery ran at open) and hold every PUBACKed message, intact; no segment may have been
moved aside as damaged. The consumer must have started exactly after its checkpoint and seen
gapless sequence numbers that agree with the log. After the last cycle the consumer resumes
once more and reads to the end of every partition: with what it saw in earlier cycles it must
have seen every PUBACKed message."""
import signal
import threading
import time

from common import (Consumer, Hub, Loader, CheckFailed, check_log_holds, create_device,
                    damaged_files, dump_events, message_id, require)

DEVICES = ["kill-a", "kill-b", "kill-c", "kill-d"]
WINDOW = 16  # QoS 1 messages in flight per device: each kill cuts off up to 64 unacknowledged


class KillCycles:
    def __init__(self, board, rng, cycles):
        self.board, self.rng, self.cycles = board, rng, cycles
        self.hub = Hub()
        self.devs = {}
        self.acked = set()
        self.checkpoints = {}  # partition -> (offset, seq) of the last event consumed
        self.seen = {}         # (partition, seq) -> message id, from the consumer
        self.started = False

    def run(self):
        try:
            for cycle in range(self.cycles):
                self.board.run(f"kill cycle {cycle + 1}/{self.cycles}", self.cycle, cycle)
            self.board.run("kill final: consumer resumes and has seen every PUBACKed message",
                           self.final)
        finally:
            self.hub.cleanup()

    def cycle(self, cycle):
        if not self.started:
            self.hub.start()
            self.started = True
            for d in DEVICES:
                self.devs[d] = create_device(self.hub, d)
        else:
            self.hub.start()
        stop = threading.Event()
        consumer = Consumer(self.hub, self.checkpoints)
        loaders = [Loader(self.hub, self.devs[d], f"k{cycle}", stop, window=WINDOW)
                   for d in DEVICES]
        for ld in loaders:
            ld.start()
        # Under load first (every device has a PUBACK, the consumer reads), then a random
        # moment.
        deadline = time.monotonic() + 30
        while not all(ld.acked or not ld.is_alive() for ld in loaders) or not consumer.events:
            require(time.monotonic() < deadline, "no PUBACK for every device, or no event for "
                                                 f"the consumer, in 30 s: {consumer.stderr[-3:]}")
            time.sleep(0.01)
        load_s = self.rng.uniform(0.3, 2.0)
        time.sleep(load_s)
        for ld in loaders:
            require(ld.is_alive(), f"{ld.dev['deviceId']} stopped before the kill: "
                                   f"CONNACK {ld.connack}, {ld.error!r}")
        rc = self.hub.stop(sig=signal.SIGKILL)
        require(rc == -signal.SIGKILL, f"iothubd exited {rc} instead of dying of SIGKILL")
        stop.set()
        events = consumer.kill()
        acked_now = 0
        for ld in loaders:
            ld.join(30)
            require(not ld.is_alive(), f"{ld.dev['deviceId']}'s loader hangs")
            require(ld.error is None, f"{ld.dev['deviceId']}: {ld.error!r}")
            require(ld.acked, f"{ld.dev['deviceId']}: nothing PUBACKed in {load_s:.1f} s")
            self.acked |= set(ld.acked)
            acked_now += len(ld.acked)

        # The daemon is down: the whole log must read back, CRCs and all.
        records = dump_events(self.hub)
        bad = damaged_files(self.hub.data_dir)
        require(not bad, f"recovery moved damaged data aside after a SIGKILL: {bad}")
        check_log_holds(records, self.acked, f"cycle {cycle + 1}")
        by_pos = {(str(r["partition"]), r["seq"]): message_id(r) for r in records}
        resumed = self.check_consumer(events, by_pos, cycle)
        return (f"killed {load_s:.1f} s into the load; {acked_now} PUBACKed this cycle, "
                f"{len(self.acked)} in all, every one in the log of {len(records)} records, "
                f"CRCs clean; consumer {resumed}")

    def check_consumer(self, events, by_pos, cycle):
        """Gapless from the checkpoint, and the same records the log holds."""
        by_part = {}
        for e in events:
            by_part.setdefault(e["p"], []).append(e)
        parts = []
        for p, evs in sorted(by_part.items()):
            first_expected = self.checkpoints[p][1] + 1 if p in self.checkpoints else 0
            seqs = [e["seq"] for e in evs]
            require(seqs[0] == first_expected,
                    f"cycle {cycle + 1}: the consumer's first event on partition {p} is "
                    f"sequence number {seqs[0]}, not {first_expected} (the one after its "
                    f"checkpoint)")
            require(seqs == list(range(seqs[0], seqs[0] + len(seqs))),
                    f"cycle {cycle + 1}: the consumer saw a gap on partition {p}")
            for e in evs:
                stored = by_pos.get((p, e["seq"]))
                require(stored == e["mid"],
                        f"partition {p} sequence number {e['seq']}: the consumer read "
                        f"{e['mid']!r}, the log holds {stored!r}")
                self.seen[(p, e["seq"])] = e["mid"]
            self.checkpoints[p] = (evs[-1]["offset"], evs[-1]["seq"])
            parts.append(f"{p}:+{len(evs)}")
        return "read " + (" ".join(parts) if parts else "nothing") + " from its checkpoints"

    def final(self):
        if not self.started:
            raise CheckFailed("no kill cycle ran")
        records = dump_events(self.hub)
        ends = {}
        for r in records:
            p = str(r["partition"])
            ends[p] = max(ends.get(p, -1), r["seq"])
        until = {p: s for p, s in ends.items()
                 if not (p in self.checkpoints and self.checkpoints[p][1] >= s)}
        self.hub.start()
        consumer = Consumer(self.hub, self.checkpoints, until=until, timeout=120)
        rc = consumer.wait(150)
        require(rc == 0, f"the consumer did not reach the end of the log: exit {rc}, "
                         f"{consumer.stderr[-3:]}")
        by_pos = {(str(r["partition"]), r["seq"]): message_id(r) for r in records}
        self.check_consumer(consumer.events, by_pos, self.cycles)
        seen = set(self.seen.values())
        missing = [m for m in self.acked if m not in seen]
        require(not missing, f"{len(missing)} PUBACKed messages never reached the consumer, "
                             f"e.g. {missing[:3]}")
        rc = self.hub.stop()
        require(rc == 0, f"iothubd exited {rc} on SIGTERM after the cycles")
        return (f"{len(self.acked)} PUBACKed messages over {self.cycles} kills, all read by "
                f"the consumer across {self.cycles + 1} resumes")
