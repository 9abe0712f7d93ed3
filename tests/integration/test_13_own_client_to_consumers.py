"""13: telemetry sent with the project's own device client (libiothub's simulated_device
sample, MQTT over TLS) is read back through the Event Hubs-compatible AMQP endpoint by both
consumers in one test (issue 4): `iothub monitor-events --json --props` and the unmodified npm
@azure/event-hubs EventHubConsumerClient (tests/interop/support/eh-read.js) with the
connection string iothubd prints in its banner. Both must see the six messages, in order, with
the device id, the wind-speed JSON body, message ids message_N, correlation ids correlation_N
and the application property Property=PropMsg_N, and must agree with each other."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (SANITIZER_MARKERS, HubTestCase, create_device,  # noqa: E402
                     device_key, parse_connection_string)

BUILD_DIR = os.environ.get("IOTHUB_BUILD_DIR", "build")
SOURCE_DIR = os.environ.get("IOTHUB_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLES = os.path.join(BUILD_DIR, "samples")
INTEROP = os.path.join(SOURCE_DIR, "tests", "interop")
EH_READ = os.path.join(INTEROP, "support", "eh-read.js")
DEVICE_ID = "MyFirstPythonDevice"  # the id simulated_device writes into its bodies
COUNT = 6
WIND_BODY = re.compile(r'^\{"deviceId": "MyFirstPythonDevice","windSpeed": (\d+\.\d\d)\}$')


class OwnClientToConsumers(HubTestCase):
    def setUp(self):
        super().setUp()
        banner = "\n".join(self.hub.stdout_lines)
        m = re.search(r"Event Hubs-compatible endpoint:\n\s*(Endpoint=\S+)", banner)
        if not m:
            self.skipTest("this iothubd has no Event Hubs-compatible endpoint")
        self.eventhub_cs = m.group(1)
        if not os.path.exists(os.path.join(SAMPLES, "simulated_device")):
            self.skipTest(f"no simulated_device sample in {SAMPLES}")
        if not shutil.which("node") or not os.path.isdir(
                os.path.join(INTEROP, "node_modules", "@azure", "event-hubs")):
            self.skipTest("node or @azure/event-hubs (tests/interop/node_modules) missing")

    def send_with_own_client(self):
        dev = create_device(self.hub, DEVICE_ID)
        host = parse_connection_string(self.hub.connection_string)["HostName"]
        env = dict(os.environ, IOTHUB_CA_FILE=self.hub.ca_file, MSG_COUNT=str(COUNT),
                   SLEEP_S="0.1",
                   DEVICE_CS=f"HostName={host};DeviceId={DEVICE_ID};"
                             f"SharedAccessKey={device_key(dev)}")
        res = subprocess.run([os.path.join(SAMPLES, "simulated_device")], capture_output=True,
                             text=True, env=env, timeout=120)
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, res.stderr, "sanitizer report from simulated_device")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        confirmed = re.findall(r"^Confirmation\[(\d+)\] received for message with result = OK$",
                               res.stdout, re.M)
        self.assertEqual(sorted(map(int, confirmed)), list(range(COUNT)), res.stdout)

    def check_body(self, text, i, who):
        m = WIND_BODY.match(text)
        self.assertIsNotNone(m, f"{who}: event {i} body {text!r}")
        self.assertTrue(12.0 <= float(m.group(1)) <= 16.0, f"{who}: event {i} body {text!r}")

    def test_monitor_events_and_node_consumer_read_the_sample_telemetry(self):
        self.send_with_own_client()

        # (a) iothub monitor-events, JSON output with the properties.
        res = self.hub.cli("--json", "monitor-events", DEVICE_ID, "--from-start",
                           "--count", str(COUNT), "--timeout", "20", "--props", check=False)
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, res.stderr, "sanitizer report from iothub")
        self.assertEqual(res.returncode, 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        self.assertIn("Monitoring", res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), COUNT, res.stdout)
        # The device wrote two decimals; the CLI prints them as written, not as
        # 12.339999999999998 (jansson's default of 17 significant digits).
        self.assertNotRegex(res.stdout, r"\d\.\d{10,}", "reals printed as written")
        monitored = [json.loads(line) for line in lines]
        for i, e in enumerate(monitored):
            self.assertEqual(e["deviceId"], DEVICE_ID)
            self.assertEqual(e["properties"]["message-id"], f"message_{i}", "in order")
            self.assertEqual(e["properties"]["correlation-id"], f"correlation_{i}")
            self.assertEqual(e["applicationProperties"], {"Property": f"PropMsg_{i}"})
            self.assertEqual(e["annotations"]["iothub-connection-device-id"], DEVICE_ID)
            self.assertEqual(e["bodyType"], "json", e)
            self.assertEqual(e["body"]["deviceId"], DEVICE_ID)
            self.assertTrue(12.0 <= e["body"]["windSpeed"] <= 16.0, e)
            self.assertRegex(e["enqueuedTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(len({e["partition"] for e in monitored}), 1, "one device, one partition")
        seqs = [e["sequenceNumber"] for e in monitored]
        self.assertEqual(seqs, sorted(set(seqs)))

        # (b) the Node Event Hubs consumer, with the connection string from the banner.
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.hub.ca_file)
        res = subprocess.run(["node", EH_READ, self.eventhub_cs, str(COUNT), "30"],
                             capture_output=True, text=True, env=env, timeout=90)
        self.assertEqual(res.returncode, 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        events = [json.loads(line) for line in res.stdout.splitlines()]
        self.assertEqual(len(events), COUNT, res.stdout)
        for i, e in enumerate(events):
            self.assertEqual(e["deviceId"], DEVICE_ID)
            self.assertEqual(e["messageId"], f"message_{i}", "in order")
            self.assertEqual(e["correlationId"], f"correlation_{i}")
            self.assertEqual(e["properties"], {"Property": f"PropMsg_{i}"})
            self.assertNotIn("bodyEncoding", e)
            self.check_body(e["body"], i, "@azure/event-hubs")
            # The same event as monitor-events saw.
            self.assertEqual(json.loads(e["body"]), monitored[i]["body"])
            self.assertEqual(e["partitionId"], monitored[i]["partition"])
            self.assertEqual(e["sequenceNumber"], monitored[i]["sequenceNumber"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
