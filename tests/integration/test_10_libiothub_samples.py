"""10: libiothub's C samples, the tutorial's two programs in C (issue 5).

create_device_identity creates MyFirstPythonDevice through the registry manager (HTTPS,
hub-generated keys) and prints its fields; simulated_device then sends wind-speed telemetry
over MQTT with the threaded client and prints a confirmation per message. Afterwards the
hub is stopped and `iothubd --dump-events` must hold exactly those messages with their
message ids, correlation ids and the Property application property. The samples' stderr
must be free of sanitizer reports."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (SANITIZER_MARKERS, HubTestCase, dump_events,  # noqa: E402
                     events_by_device, parse_connection_string)

BUILD_DIR = os.environ.get("IOTHUB_BUILD_DIR", "build")
SAMPLES = os.path.join(BUILD_DIR, "samples")
DEVICE_ID = "MyFirstPythonDevice"
FIELDS = ["deviceId", "primaryKey", "secondaryKey", "connectionState", "status",
          "lastActivityTime", "cloudToDeviceMessageCount", "isManaged", "authMethod"]


def run_sample(name, env, timeout=120):
    e = dict(os.environ)
    e.update(env)
    res = subprocess.run([os.path.join(SAMPLES, name)], capture_output=True, text=True, env=e,
                         timeout=timeout)
    for marker in SANITIZER_MARKERS:
        if marker in res.stderr:
            raise AssertionError(f"sanitizer report from {name}:\n{res.stderr}")
    return res


def printed_fields(stdout):
    """{field: value} from the `iothubDevice.field = value` lines."""
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^iothubDevice\.(\w+)\s+= (.*)$", stdout, re.M)}


class Samples(HubTestCase):
    def create_device(self):
        res = run_sample("create_device_identity",
                         {"HUB_OWNER_CS": self.hub.connection_string,
                          "IOTHUB_CA_FILE": self.hub.ca_file})
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("CreateDevice:", res.stdout)
        self.assertIn(f"    Device ID         = {DEVICE_ID}", res.stdout)
        key = parse_connection_string(self.hub.connection_string)["SharedAccessKey"]
        self.assertNotIn(key, res.stdout + res.stderr, "the policy key was printed")
        return printed_fields(res.stdout), res

    def test_create_device_identity_prints_the_tutorial_fields(self):
        fields, _ = self.create_device()
        self.assertEqual(list(fields), FIELDS)
        self.assertEqual(fields["deviceId"], DEVICE_ID)
        self.assertEqual(len(fields["primaryKey"]), 44)  # hub-generated: 32 bytes base64
        self.assertEqual(len(fields["secondaryKey"]), 44)
        self.assertNotEqual(fields["primaryKey"], fields["secondaryKey"])
        self.assertEqual(fields["connectionState"], "DISCONNECTED")
        self.assertEqual(fields["status"], "ENABLED")
        self.assertEqual(fields["lastActivityTime"], "0001-01-01T00:00:00Z")
        self.assertEqual(fields["cloudToDeviceMessageCount"], "0")
        self.assertEqual(fields["isManaged"], "False")
        self.assertEqual(fields["authMethod"], "SHARED_PRIVATE_KEY")
        # The device is really there, with those keys.
        st, _, dev = self.hub.request("GET", f"/devices/{DEVICE_ID}")
        self.assertEqual(st, 200)
        self.assertEqual(dev["authentication"]["symmetricKey"]["primaryKey"],
                         fields["primaryKey"])
        # A second run: the hub refuses the duplicate, the sample says so and fails.
        res = run_sample("create_device_identity",
                         {"HUB_OWNER_CS": self.hub.connection_string,
                          "IOTHUB_CA_FILE": self.hub.ca_file})
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("Unexpected error EEXIST", res.stdout)
        self.assertIn("DeviceAlreadyExists", res.stdout)

    def test_simulated_device_sends_confirmed_telemetry(self):
        fields, _ = self.create_device()
        host = parse_connection_string(self.hub.connection_string)["HostName"]
        device_cs = f"HostName={host};DeviceId={DEVICE_ID};SharedAccessKey={fields['primaryKey']}"
        count = 5
        res = run_sample("simulated_device",
                         {"DEVICE_CS": device_cs, "IOTHUB_CA_FILE": self.hub.ca_file,
                          "MSG_COUNT": str(count), "SLEEP_S": "0.2"})
        out = res.stdout
        self.assertEqual(res.returncode, 0, out + res.stderr)
        self.assertIn("    Protocol MQTT", out)
        self.assertNotIn(fields["primaryKey"], out + res.stderr, "the device key was printed")
        for i in range(count):
            self.assertIn(f"IoTHubClient.send_event_async accepted message [{i}] for "
                          "transmission to IoT Hub.", out)
        self.assertRegex(out, r"Send status: (BUSY|IDLE)")
        confirmations = re.findall(
            r"^Confirmation\[(\d+)\] received for message with result = (\w+)\n"
            r"    message_id: (\S+)\n    correlation_id: (\S+)\n"
            r"    Properties: (.*)\n    Total calls confirmed: (\d+)$", out, re.M)
        self.assertEqual(len(confirmations), count, out)
        self.assertEqual(sorted(int(c[0]) for c in confirmations), list(range(count)))
        for n, (idx, result, mid, cid, props, total) in enumerate(confirmations):
            self.assertEqual(result, "OK")
            self.assertEqual(mid, f"message_{idx}")
            self.assertEqual(cid, f"correlation_{idx}")
            self.assertEqual(props, f"{{'Property': 'PropMsg_{idx}'}}")
            self.assertEqual(int(total), n + 1)

        self.assertEqual(self.hub.stop(), 0)
        recs = events_by_device(dump_events(self.hub)).get(DEVICE_ID, [])
        self.assertEqual([r["system"]["message-id"] for r in recs],
                         [f"message_{i}" for i in range(count)], "exactly the sent messages")
        for i, rec in enumerate(recs):
            self.assertEqual(rec["system"]["correlation-id"], f"correlation_{i}")
            self.assertEqual(rec["app"], {"Property": f"PropMsg_{i}"})
            body = json.loads(rec["body"])
            self.assertEqual(body["deviceId"], DEVICE_ID)
            self.assertTrue(12.0 <= body["windSpeed"] <= 16.0, body)
            method = json.loads(rec["system"]["iothub-connection-auth-method"])
            self.assertEqual(method["type"], "sas")


if __name__ == "__main__":
    unittest.main(verbosity=2)
