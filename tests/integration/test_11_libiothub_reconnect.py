"""11: libiothub reconnects and never drops a message silently (issue 5).

samples/telemetry_stream sends a steady stream with the do-work client while the test stops
the hub (SIGTERM) in the middle and starts it again on the same data directory. Every
message must end in exactly one confirmation; every OK-confirmed message must be in the
event log afterwards (at-least-once: a message may be stored twice when the hub stored it
but its PUBACK was lost). With the hub gone for good, the pending messages must be reported
(MESSAGE_TIMEOUT), not dropped."""
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (SANITIZER_MARKERS, HubTestCase, create_device, device_key,  # noqa: E402
                     dump_events, events_by_device, parse_connection_string)

BUILD_DIR = os.environ.get("IOTHUB_BUILD_DIR", "build")
STREAM = os.path.join(BUILD_DIR, "samples", "telemetry_stream")


class Stream:
    """telemetry_stream running in the background, its stdout lines collected."""

    def __init__(self, env):
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen([STREAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=e)
        self.lines = []
        self.stderr = ""
        self.cond = threading.Condition()
        self.t_out = threading.Thread(target=self._pump, daemon=True)
        self.t_out.start()
        self.t_err = threading.Thread(target=self._pump_err, daemon=True)
        self.t_err.start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def _pump_err(self):
        self.stderr = self.proc.stderr.read()

    def wait_for(self, pattern, timeout=60):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(rx.search(line) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.t_out.is_alive():
                    raise AssertionError(f"no line matching {pattern!r}:\n" +
                                         "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def finish(self, timeout=180):
        rc = self.proc.wait(timeout)
        self.t_out.join(10)
        self.t_err.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        for marker in SANITIZER_MARKERS:
            if marker in self.stderr:
                raise AssertionError("sanitizer report from telemetry_stream:\n" + self.stderr)
        return rc

    def confirmations(self):
        """{message id: [results]}."""
        out = {}
        for line in self.lines:
            m = re.match(r"confirmed (\S+) (\w+)$", line)
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
        return out


class Reconnect(HubTestCase):
    def stream_env(self, dev, **kw):
        host = parse_connection_string(self.hub.connection_string)["HostName"]
        env = {"DEVICE_CS": f"HostName={host};DeviceId={dev['deviceId']};"
                            f"SharedAccessKey={device_key(dev)}",
               "IOTHUB_CA_FILE": self.hub.ca_file}
        env.update({k: str(v) for k, v in kw.items()})
        return env

    def test_hub_restart_mid_stream_loses_no_confirmed_message(self):
        dev = create_device(self.hub, "streamer")
        count = 80
        s = Stream(self.stream_env(dev, MSG_COUNT=count, INTERVAL_MS=50, WAIT_S=90))
        try:
            s.wait_for(r"^confirmed message_10 ")
            self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
            time.sleep(1.0)  # messages keep being queued while the hub is down
            self.hub.start()
            rc = s.finish()
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
        out = "\n".join(s.lines)
        self.assertEqual(rc, 0, out + s.stderr)
        conf = s.confirmations()
        ids = [f"message_{i}" for i in range(count)]
        self.assertEqual(sorted(conf), sorted(ids), "a message without a confirmation")
        for mid in ids:
            self.assertEqual(len(conf[mid]), 1, f"{mid} confirmed {conf[mid]}")
        # Retrying forever without a message timeout, every message ends OK.
        self.assertEqual([mid for mid in ids if conf[mid] != ["OK"]], [])
        self.assertIn(f"summary sent={count} ok={count} timeout=0 error=0 destroy=0", out)
        statuses = [line for line in s.lines if line.startswith("status ")]
        self.assertIn("status UNAUTHENTICATED COMMUNICATION_ERROR", statuses, out)
        self.assertEqual(statuses[-1], "status AUTHENTICATED CONNECTION_OK", out)

        self.assertEqual(self.hub.stop(), 0)
        stored = [r["system"]["message-id"]
                  for r in events_by_device(dump_events(self.hub)).get("streamer", [])]
        missing = [mid for mid in ids if conf[mid] == ["OK"] and mid not in stored]
        self.assertEqual(missing, [], "OK-confirmed messages missing from the log")
        self.assertTrue(set(stored) <= set(ids), "unknown messages stored")
        dups = len(stored) - len(set(stored))
        self.assertLessEqual(dups, 64, "more duplicates than one in-flight window")

    def test_hub_gone_for_good_reports_every_pending_message(self):
        dev = create_device(self.hub, "streamer")
        count = 30
        s = Stream(self.stream_env(dev, MSG_COUNT=count, INTERVAL_MS=50, MESSAGE_TIMEOUT=3000,
                                   WAIT_S=30))
        try:
            s.wait_for(r"^confirmed message_5 ")
            self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
            rc = s.finish()
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
        out = "\n".join(s.lines)
        self.assertEqual(rc, 0, out + s.stderr)
        conf = s.confirmations()
        ids = [f"message_{i}" for i in range(count)]
        self.assertEqual(sorted(conf), sorted(ids), out)
        for mid in ids:
            self.assertEqual(len(conf[mid]), 1, f"{mid} confirmed {conf[mid]}")
            self.assertIn(conf[mid][0], ("OK", "MESSAGE_TIMEOUT"), mid)
        timed_out = [mid for mid in ids if conf[mid] == ["MESSAGE_TIMEOUT"]]
        self.assertTrue(timed_out, "the hub was down: some messages must time out")
        stored = [r["system"]["message-id"]
                  for r in events_by_device(dump_events(self.hub)).get("streamer", [])]
        for mid in ids:
            if conf[mid] == ["OK"]:
                self.assertIn(mid, stored)


if __name__ == "__main__":
    unittest.main(verbosity=2)
