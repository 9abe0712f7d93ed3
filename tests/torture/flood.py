"""(c) Floods: many idle connections, a device sending as fast as it can (QoS 1 with the hub's
whole in-flight window, and another at QoS 0, which waits for nothing), and an Event Hubs
consumer that stops reading (SIGSTOP: its socket fills, the hub must not buffer for it
without bound). Meanwhile a probe device publishes QoS 1 one message at a time.

Promises checked: the daemon's resident memory stays under RSS_BOUND_MIB (+ RSS_PER_CONN_KIB per
connection); the probe's publish->PUBACK latency stays under PROBE_MAX_S (every sample) and
PROBE_P99_S; no idle connection is dropped; the floods make progress; the hub stops cleanly.
The bounds are generous on purpose (a shared 2-core machine runs the load too): they catch
unbounded growth and starvation, not small regressions. Measured on the release build
(FLOOD_IOTHUBD): a sanitizer build's quarantine and shadow memory would dominate RSS."""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import hubtest
from common import (ACCEPTED, Consumer, Hub, CheckFailed, create_device, device_token,
                    open_device, require, rss_kib, telemetry_topic)

RSS_BOUND_MIB = 384    # measured: ~10 MiB idle, ~110 MiB at most under the 1,000 flood
RSS_PER_CONN_KIB = 32  # measured: ~17 KiB per idle TLS connection
PROBE_MAX_S = 5.0
PROBE_P99_S = 2.0


class Flood:
    def __init__(self, board, connections, seconds):
        self.board, self.n, self.seconds = board, connections, seconds

    def run(self):
        saved = hubtest.IOTHUBD
        hubtest.IOTHUBD = os.environ["FLOOD_IOTHUBD"]
        try:
            self.board.run(f"flood: {self.n} connections, a QoS 1 and a QoS 0 device at full "
                           f"speed, a stalled consumer, {self.seconds} s", self.check)
        finally:
            hubtest.IOTHUBD = saved

    def bench(self, hub, tmp, name, *args):
        out = open(os.path.join(tmp, f"{name}.json"), "w")
        err = open(os.path.join(tmp, f"{name}.log"), "w")
        cmd = [os.environ["IOTHUB_BENCH"], "--tls", "--cafile", hub.ca_file,
               "--hub-cs", hub.connection_string, "--label", name, *args]
        return subprocess.Popen(cmd, stdout=out, stderr=err)

    @staticmethod
    def result(tmp, name, proc, timeout):
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise CheckFailed(f"iothub-bench {name} did not finish in {timeout} s")
        with open(os.path.join(tmp, f"{name}.json")) as f:
            text = f.read()
        try:
            return rc, json.loads(text)
        except ValueError:
            with open(os.path.join(tmp, f"{name}.log")) as f:
                raise CheckFailed(f"iothub-bench {name} exited {rc} without a summary: "
                                  f"{f.read()[-500:]}")

    def create(self, hub, tmp, prefix, count):
        keys = os.path.join(tmp, f"{prefix}keys")
        p = self.bench(hub, tmp, f"create-{prefix}", "--create-devices", "--create-only",
                       "--keys-file", keys, "--devices", str(count), "--device-prefix", prefix)
        rc = p.wait(600)
        require(rc == 0, f"creating {count} devices {prefix}*: iothub-bench exited {rc}")
        return keys

    def check(self):
        with tempfile.TemporaryDirectory(prefix="iothubd-flood-") as tmp:
            # Retention by size keeps the flood's disk use bounded (and retires segments under
            # the stalled consumer).
            hub = Hub(args=["--log-level", "warn", "--retention-size", "256M"])
            procs = []
            try:
                return self.scenario(hub, tmp, procs)
            finally:
                for p in procs:
                    if p.poll() is None:
                        try:
                            p.send_signal(signal.SIGCONT)
                        except ProcessLookupError:
                            pass
                        p.kill()
                        p.wait()
                hub.cleanup()

    def scenario(self, hub, tmp, procs):
        hub.start()
        pid = hub.proc.pid
        rss = {"base": rss_kib(pid), "max": 0}
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                rss["max"] = max(rss["max"], rss_kib(pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        idle_keys = self.create(hub, tmp, "flood-idle-", self.n)
        fast_keys = self.create(hub, tmp, "flood-fast-", 1)
        q0_keys = self.create(hub, tmp, "flood-q0-", 1)
        probe_dev = create_device(hub, "flood-probe")

        # The idle crowd: held until well after the flood.
        ready = os.path.join(tmp, "idle.ready")
        connect_s = max(30, self.n / 100)
        idle = self.bench(hub, tmp, "idle", "--keys-file", idle_keys, "--devices", str(self.n),
                          "--connections", str(self.n), "--idle", "--connect-rate", "1000",
                          "--ready-file", ready, "--keepalive", "120",
                          "--duration", str(self.seconds + 120))
        procs.append(idle)
        deadline = time.monotonic() + connect_s
        while not os.path.exists(ready):
            require(idle.poll() is None, f"iothub-bench (idle) exited {idle.returncode} "
                                         f"before its {self.n} connections were up")
            require(time.monotonic() < deadline, f"{self.n} connections not up in {connect_s} s")
            time.sleep(0.2)
        rss_connected = rss_kib(pid)

        # The floods and the consumer that stops reading.
        common = ["--connections", "1", "--warmup", "0", "--duration", str(self.seconds),
                  "--payload-size", "256", "--drain", "10"]
        fast = self.bench(hub, tmp, "fast", "--keys-file", fast_keys, "--qos", "1",
                          "--inflight", "1024", *common)
        q0 = self.bench(hub, tmp, "q0", "--keys-file", q0_keys, "--qos", "0", *common)
        procs += [fast, q0]
        consumer = Consumer(hub, {}, timeout=self.seconds + 60)
        procs.append(consumer.proc)
        deadline = time.monotonic() + 30
        while not consumer.events:
            require(consumer.proc.poll() is None, f"the consumer exited: {consumer.stderr[-3:]}")
            require(time.monotonic() < deadline, "the consumer read nothing in 30 s")
            time.sleep(0.1)
        consumer.proc.send_signal(signal.SIGSTOP)
        stalled_at = len(consumer.events)

        # The probe: one QoS 1 message at a time while the flood runs.
        latencies = []
        c, ack = open_device(hub, "flood-probe", device_token(probe_dev), timeout=30)
        require(ack.return_code == ACCEPTED, f"the probe device got CONNACK {ack.return_code}")
        end = time.monotonic() + self.seconds - 1
        n = 0
        while time.monotonic() < end:
            t0 = time.monotonic()
            c.publish_wait(telemetry_topic("flood-probe", f"%24.mid=probe-{n}"), b"probe %d" % n,
                           timeout=PROBE_MAX_S * 4)
            latencies.append(time.monotonic() - t0)
            n += 1
            time.sleep(0.05)
        c.disconnect()

        rc_fast, fast_res = self.result(tmp, "fast", fast, self.seconds + 60)
        rc_q0, q0_res = self.result(tmp, "q0", q0, self.seconds + 60)
        consumer.proc.send_signal(signal.SIGCONT)
        consumer.kill()
        idle.send_signal(signal.SIGINT)  # it stops and reports
        rc_idle, idle_res = self.result(tmp, "idle", idle, 60)
        sampling.set()
        sampler.join(5)

        require(hub.proc.poll() is None, "iothubd died during the flood")
        established = idle_res["connections"]["established"]
        require(established == self.n, f"only {established} of {self.n} connections were "
                                       f"established: {idle_res['errors']}")
        require(idle_res["errors"]["disconnected"] == 0,
                f"the hub dropped {idle_res['errors']['disconnected']} idle connections")
        require(fast_res["messages"]["acked_total"] > 0, "the QoS 1 flood got no PUBACK")
        require(q0_res["messages"]["sent_total"] > 0, "the QoS 0 flood sent nothing")
        bound_kib = RSS_BOUND_MIB * 1024 + RSS_PER_CONN_KIB * self.n
        require(rss["max"] <= bound_kib,
                f"iothubd's RSS reached {rss['max'] // 1024} MiB, above the bound of "
                f"{bound_kib // 1024} MiB")
        latencies.sort()
        require(latencies, "the probe sent nothing")
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        require(latencies[-1] <= PROBE_MAX_S,
                f"the probe waited {latencies[-1]:.2f} s for a PUBACK (bound {PROBE_MAX_S} s)")
        require(p99 <= PROBE_P99_S, f"the probe's p99 latency is {p99:.2f} s "
                                    f"(bound {PROBE_P99_S} s)")
        drop_lines = [line for line in hub.stderr_lines if "QoS 0 telemetry dropped" in line]
        dropped = sum(int(line.rsplit("dropped_since_last_line=", 1)[1].split()[0])
                      for line in drop_lines if "dropped_since_last_line=" in line)
        require(len(drop_lines) <= self.seconds * 2 + 10,
                f"{len(drop_lines)} log lines about dropped QoS 0 messages: a log flood")
        rc = hub.stop()
        require(rc == 0, f"iothubd exited {rc} on SIGTERM after the flood")
        require(rc_idle == 0, f"iothub-bench (idle) exited {rc_idle}")
        return (f"RSS {rss['base'] // 1024} MiB idle, {rss_connected // 1024} MiB with "
                f"{self.n} connections, max {rss['max'] // 1024} MiB (bound "
                f"{bound_kib // 1024}); QoS 1 flood {fast_res['msgs_per_s']:.0f} msg/s "
                f"(exit {rc_fast}), "
                f"QoS 0 flood {q0_res['msgs_per_s']:.0f} msg/s (exit {rc_q0}, {dropped} dropped "
                f"by a full "
                f"append queue, in {len(drop_lines)} log lines); consumer stalled after "
                f"{stalled_at} events; probe {len(latencies)} PUBACKs, p50 "
                f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
                f"{latencies[-1] * 1000:.0f} ms; no connection dropped")
