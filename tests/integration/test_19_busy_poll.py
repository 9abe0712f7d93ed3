"""19: busy polling for a device that streams alone on its network thread (--busy-poll-us).

After answering such a device the thread polls for its next messages instead of sleeping.
Checked here on the real daemon with the project's raw client: the waits that polling found
input for are counted in the shutdown log; every acknowledged message is stored as without
polling; a device that pauses lets the thread sleep again (the hub uses next to no CPU over
an idle second); --busy-poll-us 0 turns it off; out-of-range values are refused."""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (IOTHUBD, HubTestCase, create_device, device_token,  # noqa: E402
                     dump_events, events_by_device)
from mqttraw import ACCEPTED, open_device, telemetry_topic  # noqa: E402

WINDOW = 16


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BusyPollCase(HubTestCase):
    # One network thread, so that the device is alone on the thread that serves it.
    busy_poll_us = "10000"

    @property
    def hub_args(self):
        return ("--mqtt-plain-port", "1883", "--threads", "1", "--busy-poll-us",
                self.busy_poll_us)

    def connect(self, dev):
        c, ack = open_device(self.hub, dev["deviceId"], device_token(dev), port=1883, tls=False)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, ACCEPTED)
        return c

    def stream(self, c, dev, rounds, first=0):
        """rounds x WINDOW QoS 1 messages, each round sent when the previous one is acked."""
        topic = telemetry_topic(dev["deviceId"])
        n = first
        for _ in range(rounds):
            ids = []
            for _ in range(WINDOW):
                ids.append(c.publish(topic, b"m%d" % n, qos=1))
                n += 1
            self.assertEqual(c.wait_pubacks(ids), ids)
        return n

    def stop_and_read_polling(self):
        """Stops the hub; returns (found, ran_out) of its busy-polling log line, or None."""
        self.assertEqual(self.hub.stop(), 0)
        lines = [l for l in self.hub.stderr_lines if "busy polling for lone devices" in l]
        if not lines:
            return None
        self.assertEqual(len(lines), 1, lines)
        m = re.search(r"found=(\d+) ran_out=(\d+) window_us=(\d+)", lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(3), self.busy_poll_us)
        return int(m.group(1)), int(m.group(2))

    def assertStored(self, dev, count):
        recs = events_by_device(dump_events(self.hub))[dev["deviceId"]]
        self.assertEqual([r["body"] for r in recs], [b"m%d" % i for i in range(count)])


class BusyPoll(BusyPollCase):
    def test_streaming_device_is_polled_and_every_message_stored(self):
        dev = create_device(self.hub, "streamer")
        c = self.connect(dev)
        sent = self.stream(c, dev, rounds=40)
        c.disconnect()
        found, ran_out = self.stop_and_read_polling()
        # 39 waits for a next round; a slow machine may miss the 10 ms now and then.
        self.assertGreaterEqual(found, 20, (found, ran_out))
        self.assertStored(dev, sent)

    def test_paused_device_lets_the_thread_sleep(self):
        dev = create_device(self.hub, "pauser")
        c = self.connect(dev)
        sent = self.stream(c, dev, rounds=10)
        time.sleep(0.1)  # past the window: the poll ran out, the thread sleeps
        before = cpu_seconds(self.hub.proc.pid)
        time.sleep(1.0)
        used = cpu_seconds(self.hub.proc.pid) - before
        # Polling without end would cost the whole second; a sleeping hub uses ~0.
        self.assertLess(used, 0.2, f"the hub used {used:.2f} s of CPU while the device paused")
        sent = self.stream(c, dev, rounds=2, first=sent)  # and it still answers
        c.disconnect()
        found, ran_out = self.stop_and_read_polling()
        self.assertGreaterEqual(ran_out, 1, (found, ran_out))
        self.assertStored(dev, sent)


class BusyPollOff(BusyPollCase):
    busy_poll_us = "0"

    def test_zero_turns_it_off(self):
        dev = create_device(self.hub, "plain")
        c = self.connect(dev)
        sent = self.stream(c, dev, rounds=10)
        c.disconnect()
        self.assertIsNone(self.stop_and_read_polling())
        self.assertStored(dev, sent)

    def test_out_of_range_is_refused(self):
        for bad in ("10001", "-1", "1e3", ""):
            res = subprocess.run([IOTHUBD, "--busy-poll-us", bad], capture_output=True,
                                 text=True)
            self.assertEqual(res.returncode, 2, bad)
            self.assertIn("--busy-poll-us", res.stderr)


if __name__ == "__main__":
    unittest.main()
