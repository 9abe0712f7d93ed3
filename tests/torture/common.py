"""Shared parts of the torture checks: the result board, QoS 1 loaders, the resuming Event
Hubs consumer, and log verification. The hub itself is tests/support/hubtest.py's Hub."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import hubtest  # noqa: E402
from hubtest import Hub, create_device, device_token, dump_events  # noqa: E402,F401
from mqttraw import (ACCEPTED, PUBACK, Closed, ProtocolError, open_device,  # noqa: E402,F401
                     telemetry_topic)

EH_RESUME = os.path.join(HERE, "eh_resume.js")


class CheckFailed(Exception):
    """A torture check found a broken promise; the message says which and where."""


def require(cond, what):
    if not cond:
        raise CheckFailed(what)


class Board:
    """One line per check, then the closing count."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, ok, detail):
        print(f"torture {name}: {'ok' if ok else 'FAILED'}: {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def run(self, name, fn, *args):
        """Runs fn(*args) -> detail string; an exception is a failure of this check."""
        t0 = time.monotonic()
        try:
            detail = fn(*args)
            self.report(name, True, f"{detail} ({time.monotonic() - t0:.1f} s)")
        except CheckFailed as e:
            self.report(name, False, str(e))
        except Exception as e:  # noqa: BLE001 - a broken check is a failed check
            self.report(name, False, f"{type(e).__name__}: {e}")


def body_for(mid):
    """A body that proves itself: its id, then bytes derived from it (varied lengths)."""
    digest = hashlib.sha256(mid.encode()).digest()
    return mid.encode() + b"|" + digest * (1 + digest[0] % 8)


class Loader(threading.Thread):
    """One device publishing QoS 1 with up to `window` messages in flight until the connection
    dies, stop is set, or `limit` messages were sent. Records every PUBACKed message id; never
    resends. PUBACKs must come in PUBLISH order."""

    def __init__(self, hub, dev, tag, stop, window=64, limit=None, body=body_for, qos=1):
        super().__init__(daemon=True)
        self.hub, self.dev, self.tag, self.stop = hub, dev, tag, stop
        self.window, self.limit, self.body = window, limit, body
        self.sent, self.acked = [], []
        self.error = None
        self.connack = None
        self.closed_by_hub = False
        self.ack_times = []  # monotonic time of each PUBACK

    def run(self):
        did = self.dev["deviceId"]
        client = None
        try:
            client, ack = open_device(self.hub, did, device_token(self.dev), timeout=30)
            self.connack = ack.return_code
            if ack.return_code != ACCEPTED:
                return
            inflight, order, n = {}, [], 0
            while not self.stop.is_set():
                while (len(inflight) < self.window and not self.stop.is_set() and
                       (self.limit is None or n < self.limit)):
                    mid = f"{self.tag}-{did}-{n}"
                    pid = client.publish(telemetry_topic(did, f"%24.mid={mid}&n={n}"),
                                         self.body(mid), qos=1)
                    self.sent.append(mid)
                    inflight[pid] = mid
                    order.append(pid)
                    n += 1
                if not order:
                    break  # the limit was reached and everything acknowledged
                p = client.read_packet(30)
                if p.type != PUBACK:
                    raise ProtocolError(f"expected PUBACK, got {p!r}")
                if p.packet_id != order[0]:
                    raise ProtocolError(f"PUBACK {p.packet_id} out of order (expected {order[0]})")
                order.pop(0)
                self.acked.append(inflight.pop(p.packet_id))
                self.ack_times.append(time.monotonic())
        except (Closed, ConnectionError, TimeoutError, OSError):
            self.closed_by_hub = True
        except Exception as e:  # noqa: BLE001 - reported by the check
            self.error = e
        finally:
            if client:
                client.close()


def eh_connection_string(hub):
    banner = "\n".join(hub.stdout_lines)
    m = re.search(r"Event Hubs-compatible endpoint:\n\s*(Endpoint=\S+)", banner)
    if not m:
        raise CheckFailed("the hub printed no Event Hubs-compatible connection string")
    return m.group(1)


class Consumer:
    """tests/torture/eh_resume.js in the background: an @azure/event-hubs consumer that starts
    after the saved offsets (checkpoints: {partition: (offset, seq)}) and prints each event."""

    def __init__(self, hub, checkpoints, until=None, timeout=60):
        positions = {p: off for p, (off, _seq) in checkpoints.items()}
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=hub.ca_file)
        args = ["node", EH_RESUME, eh_connection_string(hub), json.dumps(positions),
                json.dumps(until) if until is not None else "-", str(timeout)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        self.events = []
        self.stderr = []
        self._threads = [threading.Thread(target=self._pump_out, daemon=True),
                         threading.Thread(target=self._pump_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _pump_out(self):
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass  # a line cut by SIGKILL: not a checkpoint

    def _pump_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for t in self._threads:
            t.join(5)
        return self.events

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CheckFailed("the Event Hubs consumer did not finish in time")
        for t in self._threads:
            t.join(5)
        return rc


def message_id(rec):
    return rec["system"].get("message-id")


def check_log_holds(records, acked, where, body=body_for):
    """Every PUBACKed message id is stored at least once, with its body intact."""
    stored = {}
    for r in records:
        mid = message_id(r)
        if mid is not None:
            stored.setdefault(mid, r)
    missing = [m for m in acked if m not in stored]
    require(not missing, f"{where}: {len(missing)} PUBACKed messages missing from the log, "
                         f"e.g. {missing[:3]}")
    for m in acked:
        r = stored[m]
        require(r["body"] == body(m), f"{where}: the body of {m} is damaged")
    return stored


def damaged_files(data_dir):
    out = []
    for root, _dirs, files in os.walk(os.path.join(data_dir, "eventlog")):
        out += [os.path.join(root, f) for f in files if ".damaged-" in f]
    return out


def sanitizer_report(hub):
    for line in hub.stderr_lines:
        for marker in hubtest.SANITIZER_MARKERS:
            if marker in line:
                return line
    return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
