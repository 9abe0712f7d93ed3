"""09: `iothub monitor-events` end to end: devices send telemetry with mosquitto_pub (MQTT over
TLS), the CLI reads it back as an AMQP client of the hub's Event Hubs-compatible endpoint
(port 5671) and its output is checked: every message with its device id and body, the device
filter, --props, --json, the start positions, consumer groups, and clean stops (--count,
--timeout, SIGINT, SIGTERM)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (IOTHUB, SANITIZER_MARKERS, HubTestCase, create_device,  # noqa: E402
                     device_token)

NOT_FOUND = 4
USAGE = 2
EVENT_LINE = re.compile(r"^event from (\S+) at (\S+) \(partition (\S+), sequence number (\d+), "
                        r"offset (\d+)\)$")


class MonitorCase(HubTestCase):
    def setUp(self):
        super().setUp()
        banner = "\n".join(self.hub.stdout_lines)
        if "Event Hubs-compatible endpoint:" not in banner:
            self.skipTest("this iothubd has no Event Hubs-compatible endpoint")

    # -- helpers ------------------------------------------------------------------------
    def send(self, dev, body, props="", lines=False):
        """Publishes body (or, with lines=True, each line of it) as dev over MQTT/TLS QoS 1."""
        did = dev["deviceId"]
        cmd = ["mosquitto_pub", "-h", "localhost", "-p", "8883", "--cafile", self.hub.ca_file,
               "-i", did, "-u", f"localhost/{did}/?api-version=2021-04-12", "-V", "mqttv311",
               "-q", "1", "-P", device_token(dev), "-t", f"devices/{did}/messages/events/{props}"]
        if lines:
            r = subprocess.run(cmd + ["-l"], input=body, capture_output=True, text=True,
                               timeout=60)
        else:
            r = subprocess.run(cmd + ["-m", body], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def monitor(self, *args, rc=0, timeout=60):
        res = self.hub.cli(*args, check=False)
        self.assertEqual(res.returncode, rc,
                         f"iothub {' '.join(args)}:\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, res.stderr)
        return res

    def start_monitor(self, *args):
        """Starts monitor-events in the background; returns (process, stdout lines, stderr
        lines) once it reports that it is monitoring."""
        env = dict(os.environ, IOTHUB_CONNECTION_STRING=self.hub.connection_string,
                   IOTHUB_CA_FILE=self.hub.ca_file)
        p = subprocess.Popen([IOTHUB, "monitor-events", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        def reap():
            if p.poll() is None:
                p.kill()
            p.wait()
            time.sleep(0.1)  # let the pump threads drain
            p.stdout.close()
            p.stderr.close()

        self.addCleanup(reap)
        out, err = [], []
        ready = threading.Event()

        def pump(stream, sink, watch):
            for line in stream:
                sink.append(line.rstrip("\n"))
                if watch and line.startswith("Monitoring "):
                    ready.set()
            ready.set()

        threading.Thread(target=pump, args=(p.stdout, out, False), daemon=True).start()
        threading.Thread(target=pump, args=(p.stderr, err, True), daemon=True).start()
        self.assertTrue(ready.wait(30), "monitor-events did not get ready")
        self.assertIsNone(p.poll(), "\n".join(err))
        return p, out, err

    def parse_human(self, text):
        """[(device, partition, seq, body text)] from the human output."""
        events, cur = [], None
        for line in text.splitlines():
            m = EVENT_LINE.match(line)
            if m:
                cur = [m.group(1), m.group(3), int(m.group(4)), []]
                events.append(cur)
            elif cur is not None:
                cur[3].append(line)
        return [(d, p, s, "\n".join(b).strip()) for d, p, s, b in events]

    # -- tests --------------------------------------------------------------------------
    def test_from_start_every_message_with_device_and_body(self):
        d1 = create_device(self.hub, "dev1")
        d2 = create_device(self.hub, "dev2")
        self.send(d1, '{"temperature":21.5,"unit":"C"}')
        self.send(d2, "plain text from dev2")
        self.send(d1, "\n".join(f"line {i}" for i in range(5)) + "\n", lines=True)
        res = self.monitor("monitor-events", "--from-start", "--count", "7", "--timeout", "10")
        events = self.parse_human(res.stdout)
        self.assertEqual(len(events), 7, res.stdout)
        by_dev = {}
        for dev, part, seq, body in events:
            by_dev.setdefault(dev, []).append((part, seq, body))
        self.assertEqual(sorted(by_dev), ["dev1", "dev2"])
        # In order per device, on one partition.
        dev1 = by_dev["dev1"]
        self.assertEqual(len({p for p, _, _ in dev1}), 1)
        self.assertEqual([s for _, s, _ in dev1], sorted(s for _, s, _ in dev1))
        self.assertEqual(json.loads(dev1[0][2]), {"temperature": 21.5, "unit": "C"})
        self.assertIn('  "temperature": 21.5', dev1[0][2])  # pretty-printed
        self.assertEqual([b for _, _, b in dev1[1:]], [f"line {i}" for i in range(5)])
        self.assertEqual([b for _, _, b in by_dev["dev2"]], ["plain text from dev2"])
        self.assertIn("Monitoring", res.stderr)

    def test_device_filter(self):
        d1 = create_device(self.hub, "dev1")
        d2 = create_device(self.hub, "dev2")
        for i in range(3):
            self.send(d1, f"one-{i}")
            self.send(d2, f"two-{i}")
        res = self.monitor("monitor-events", "dev2", "--from-start", "--timeout", "4")
        events = self.parse_human(res.stdout)
        self.assertEqual([(d, b) for d, _, _, b in events],
                         [("dev2", "two-0"), ("dev2", "two-1"), ("dev2", "two-2")])
        res = self.monitor("monitor-events", "nobody", "--from-start", "--timeout", "3")
        self.assertEqual(res.stdout, "")

    def test_props(self):
        d1 = create_device(self.hub, "dev1")
        self.send(d1, '{"a":1}', props="%24.mid=m1&%24.cid=c1&%24.ct=application%2Fjson&"
                                        "%24.ce=utf-8&color=red&n=42")
        res = self.monitor("monitor-events", "--from-start", "--count", "1", "--timeout", "10",
                           "--props")
        out = res.stdout
        self.assertRegex(out, r"(?m)^event from dev1 at ")
        for expected in ("message-id: m1", "correlation-id: c1", "content-type: application/json",
                         "content-encoding: utf-8", "color: red", "n: 42",
                         "iothub-connection-device-id: dev1", "iothub-message-source: Telemetry"):
            self.assertIn(expected, out)
        # Without --props none of it.
        res = self.monitor("monitor-events", "--from-start", "--count", "1", "--timeout", "10")
        self.assertNotIn("message-id", res.stdout)
        self.assertNotIn("color", res.stdout)

    def test_json(self):
        d1 = create_device(self.hub, "dev1")
        self.send(d1, '{"temperature":20}', props="%24.mid=j1&k=v")
        self.send(d1, "not json")
        self.send(d1, "\u00e9t\u00e9")
        res = self.monitor("--json", "monitor-events", "--from-start", "--count", "3",
                           "--timeout", "10", "--props")
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 3, res.stdout)
        events = [json.loads(line) for line in lines]
        for e in events:
            self.assertEqual(e["deviceId"], "dev1")
            for k in ("partition", "sequenceNumber", "offset", "enqueuedTime"):
                self.assertIn(k, e)
            self.assertRegex(e["enqueuedTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual((events[0]["bodyType"], events[0]["body"]), ("json", {"temperature": 20}))
        self.assertEqual(events[0]["properties"]["message-id"], "j1")
        self.assertEqual(events[0]["applicationProperties"], {"k": "v"})
        self.assertEqual(events[0]["annotations"]["iothub-connection-device-id"], "dev1")
        self.assertEqual((events[1]["bodyType"], events[1]["body"]), ("text", "not json"))
        self.assertEqual(events[2]["body"], "\u00e9t\u00e9")
        self.assertEqual([e["sequenceNumber"] for e in events],
                         sorted(e["sequenceNumber"] for e in events))

    def test_latest_by_default_then_count(self):
        d1 = create_device(self.hub, "dev1")
        self.send(d1, "before")
        p, out, err = self.start_monitor("--count", "2", "--timeout", "30")
        self.send(d1, "after-1")
        self.send(d1, "after-2")
        self.assertEqual(p.wait(30), 0, "\n".join(err))
        time.sleep(0.2)
        text = "\n".join(out)
        self.assertNotIn("before", text)
        self.assertEqual([b for _, _, _, b in self.parse_human(text)], ["after-1", "after-2"])

    def test_from_time(self):
        d1 = create_device(self.hub, "dev1")
        self.send(d1, "old")
        time.sleep(1.2)
        cut = int(time.time() * 1000)
        time.sleep(0.2)
        self.send(d1, "new")
        res = self.monitor("monitor-events", "--from-time", str(cut), "--timeout", "4")
        self.assertEqual([b for _, _, _, b in self.parse_human(res.stdout)], ["new"])
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut / 1000)) + \
            ".%03dZ" % (cut % 1000)
        res = self.monitor("monitor-events", "--from-time", iso, "--timeout", "4")
        self.assertEqual([b for _, _, _, b in self.parse_human(res.stdout)], ["new"])
        self.monitor("monitor-events", "--from-time", "yesterday", rc=USAGE)
        self.monitor("monitor-events", "--from-time", "1", "--from-start", rc=USAGE)

    def test_consumer_groups(self):
        d1 = create_device(self.hub, "dev1")
        self.send(d1, "hello")
        res = self.monitor("monitor-events", "--from-start", "--consumer-group", "nope",
                           "--timeout", "10", rc=NOT_FOUND)
        self.assertIn("error: ", res.stderr)
        self.hub.cli("consumer-group", "create", "Readers")
        res = self.monitor("monitor-events", "--from-start", "--consumer-group", "readers",
                           "--count", "1", "--timeout", "10")
        self.assertEqual([b for _, _, _, b in self.parse_human(res.stdout)], ["hello"])

    def test_signals_stop_cleanly(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            p, out, err = self.start_monitor()
            p.send_signal(sig)
            self.assertEqual(p.wait(15), 0, "\n".join(err))
            for marker in SANITIZER_MARKERS:
                self.assertNotIn(marker, "\n".join(err))

    def test_timeout_without_events(self):
        t0 = time.monotonic()
        res = self.monitor("monitor-events", "--timeout", "2")
        self.assertEqual(res.stdout, "")
        self.assertLess(time.monotonic() - t0, 20)

    def test_wrong_key_is_refused(self):
        cs = self.hub.connection_string.split(";")
        bad = ";".join(cs[:2] + ["SharedAccessKey=" + "QUJD" * 11])
        res = self.hub.cli("monitor-events", "--timeout", "10", check=False,
                           env={"IOTHUB_CONNECTION_STRING": bad})
        self.assertEqual(res.returncode, 3, res.stderr)
        self.assertNotIn("QUJD", res.stderr)


if __name__ == "__main__":
    unittest.main()
