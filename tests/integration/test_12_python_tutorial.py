"""12: the tutorial's two Python programs, unchanged, against a local iothubd.

CreateDeviceIdentity.py and SimulatedDevice.py run from the tutorial's own directory
(<repo>/../shared/tutorial, or IOTHUB_TUTORIAL_DIR) with Debian's /usr/bin/python3 and the
project's modules on PYTHONPATH (<build>/python: iothub_client and iothub_service_client over
libiothub). The device is created with hub-generated keys, every telemetry message is confirmed
OK, and after the hub stops the event log holds exactly those messages with their message ids,
correlation ids and the "Property" application property. python/tests/check_api.py then
exercises the rest of the modules' API (registry manager, messages and maps, callbacks,
reference counts, BECAUSE_DESTROY, MESSAGE_TIMEOUT, the atexit hook).

Memory checking: when the modules were built with -fsanitize=address (build-asan, `make test`),
Python runs with libasan preloaded and PYTHONMALLOC=malloc, so ASan sees every Python object
too, and UBSan stops at the first report; LeakSanitizer runs at exit (with PYTHONMALLOC=malloc
CPython itself leaves nothing it reports, so any leak fails). With a release build and valgrind
installed, SimulatedDevice.py and the API checks also run under valgrind (memcheck: any error
or definite leak fails).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (SANITIZER_MARKERS, HubTestCase, dump_events,  # noqa: E402
                     events_by_device, parse_connection_string)

SOURCE_DIR = os.environ.get("IOTHUB_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("IOTHUB_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
MODULE_DIR = os.path.join(BUILD_DIR, "python")
TUTORIAL_DIR = os.environ.get("IOTHUB_TUTORIAL_DIR",
                              os.path.join(SOURCE_DIR, "..", "shared", "tutorial"))
PYTHON = os.environ.get("IOTHUB_PYTHON", "/usr/bin/python3")
CHECK_API = os.path.join(SOURCE_DIR, "python", "tests", "check_api.py")
DEVICE_ID = "MyFirstPythonDevice"
MSG_COUNT = 5

# A stack frame in the modules or libiothub (function, source or object names), not CPython.
OURS = re.compile(r"iothub_|iotlib_|pyiothub|libiothub")


def module_path(name):
    if not os.path.isdir(MODULE_DIR):
        return None
    for f in sorted(os.listdir(MODULE_DIR)):
        if f.startswith(name + ".") and f.endswith(".so"):
            return os.path.join(MODULE_DIR, f)
    return None


def asan_runtime():
    """The ASan runtime the modules need preloaded, or None for an uninstrumented build."""
    mod = module_path("iothub_client")
    out = subprocess.run(["ldd", mod], capture_output=True, text=True).stdout
    m = re.search(r"(libasan\.so[.\d]*) => (\S+)", out)
    return m.group(2) if m else None


def our_leaks(report):
    """LeakSanitizer records ("Direct/Indirect leak of ...") with one of our frames."""
    blocks = re.split(r"\n(?=(?:Direct|Indirect) leak of )", report)
    return [b for b in blocks if re.match(r"(Direct|Indirect) leak of ", b) and
            OURS.search(b)]


class PythonTutorial(HubTestCase):

    @classmethod
    def setUpClass(cls):
        for name in ("iothub_client", "iothub_service_client"):
            if not module_path(name):
                raise AssertionError(f"{name} is not built in {MODULE_DIR} (make python)")
        if not os.path.isfile(os.path.join(TUTORIAL_DIR, "SimulatedDevice.py")):
            raise unittest.SkipTest(f"the tutorial's programs are not in {TUTORIAL_DIR}")
        cls.asan = asan_runtime()

    # -- running Python programs ----------------------------------------------------------
    def env(self, **extra):
        e = dict(os.environ)
        e.update(PYTHONPATH=MODULE_DIR, IOTHUB_CA_FILE=self.hub.ca_file)
        if self.asan:
            e.update(LD_PRELOAD=self.asan, PYTHONMALLOC="malloc",
                     # exitcode=0: run_python reads the reports from stderr and shows them
                     # with the program's output.
                     ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=0:"
                                  "malloc_context_size=40",
                     UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        e.update(extra)
        return e

    def run_python(self, script, wrapper=(), timeout=180, **env):
        """Runs script from its own directory; asserts a clean exit; returns stdout."""
        if wrapper:
            env.setdefault("PYTHONMALLOC", "malloc")  # valgrind sees every object
        res = subprocess.run([*wrapper, PYTHON, script], cwd=os.path.dirname(script),
                             env=self.env(**env), capture_output=True, text=True,
                             timeout=timeout)
        self.assertEqual(res.returncode, 0,
                         f"{script} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
        self.assertNotIn("Exception ignored", res.stderr, res.stderr)
        self.assertNotIn("Traceback", res.stderr, res.stderr)
        if self.asan:
            # With PYTHONMALLOC=malloc CPython 3.11 itself leaves nothing LeakSanitizer
            # reports, so any leak fails; our_leaks() says whether ours are among them.
            report = res.stderr
            if any(marker in report for marker in SANITIZER_MARKERS):
                self.fail(f"sanitizer report from {script} ({len(our_leaks(report))} leak "
                          f"records with frames in the modules or libiothub):\n{report}")
        return res.stdout

    def create_device_identity(self):
        out = self.run_python(os.path.join(TUTORIAL_DIR, "CreateDeviceIdentity.py"),
                              HUB_OWNER_CS=self.hub.connection_string)
        self.assertNotIn("Unexpected error", out)
        fields = dict(re.findall(r"^iothubDevice\.(\w+)\s*= (.*)$", out, re.M))
        return out, fields

    def simulated_device(self, primary_key, wrapper=(), count=MSG_COUNT):
        cs = f"HostName=localhost;DeviceId={DEVICE_ID};SharedAccessKey={primary_key}"
        return self.run_python(os.path.join(TUTORIAL_DIR, "SimulatedDevice.py"), wrapper=wrapper,
                               timeout=600, DEVICE_CS=cs, MSG_COUNT=str(count), SLEEP_S="0.3")

    # -- checks ---------------------------------------------------------------------------
    def assertDeviceCreated(self, fields):
        self.assertEqual(fields.get("deviceId"), DEVICE_ID, fields)
        for k in ("primaryKey", "secondaryKey"):
            self.assertRegex(fields[k], r"^[A-Za-z0-9+/]{43}=$", k)  # 32 bytes, base64
        self.assertNotEqual(fields["primaryKey"], fields["secondaryKey"])
        self.assertEqual(fields["connectionState"], "DISCONNECTED")
        self.assertEqual(fields["status"], "ENABLED")
        self.assertRegex(fields["lastActivityTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(fields["cloudToDeviceMessageCount"], "0")
        self.assertEqual(fields["isManaged"], "False")
        self.assertEqual(fields["authMethod"], "SHARED_PRIVATE_KEY")
        # The keys printed are the registry's.
        st, _, dev = self.hub.request("GET", f"/devices/{DEVICE_ID}")
        self.assertEqual(st, 200, dev)
        keys = dev["authentication"]["symmetricKey"]
        self.assertEqual((keys["primaryKey"], keys["secondaryKey"]),
                         (fields["primaryKey"], fields["secondaryKey"]))

    def assertAllConfirmed(self, out, count=MSG_COUNT):
        self.assertIn("    Protocol MQTT\n", out)
        # The callbacks print from the library's thread while the main thread prints too, and
        # print() writes the text and the newline separately: the two threads' lines may
        # interleave, even within a line. So: substrings, counted.
        results = re.findall(r"Confirmation\[(\d+)\] received for message with result = "
                             r"(OK|BECAUSE_DESTROY|MESSAGE_TIMEOUT|ERROR)", out)
        self.assertEqual(sorted((int(n), r) for n, r in results),
                         [(i, "OK") for i in range(count)], out)
        for i in range(count):
            for text in (f"message_id: message_{i}", f"correlation_id: correlation_{i}",
                         "Properties: {'Property': 'PropMsg_%d'}" % i,
                         f"Total calls confirmed: {i + 1}",
                         f"IoTHubClient.send_event_async accepted message [{i}] for "
                         "transmission to IoT Hub."):
                found = re.findall(re.escape(text) + r"(?!\d)", out)
                self.assertEqual(len(found), 1, f"{text!r} in\n{out}")
        self.assertEqual(len(re.findall(r"Send status: (?:IDLE|BUSY)", out)), 2 * count, out)

    def assertEventLog(self, count=MSG_COUNT, only_device=True):
        self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
        recs = events_by_device(dump_events(self.hub))
        if only_device:
            self.assertEqual(list(recs), [DEVICE_ID])
        got = recs[DEVICE_ID]
        self.assertEqual([r["system"].get("message-id") for r in got],
                         [f"message_{i}" for i in range(count)])
        for i, rec in enumerate(got):
            self.assertEqual(rec["system"].get("correlation-id"), f"correlation_{i}")
            self.assertEqual(rec["app"], {"Property": f"PropMsg_{i}"})
            body = json.loads(rec["body"])
            self.assertEqual(body["deviceId"], DEVICE_ID)
            self.assertTrue(12.0 <= body["windSpeed"] <= 16.0, body)

    # -- tests ----------------------------------------------------------------------------
    def test_tutorial_programs_create_the_device_and_send_confirmed_telemetry(self):
        out, fields = self.create_device_identity()
        self.assertIn("Creating device using the Azure IoT Hub Service SDK for Python", out)
        self.assertIn(f"    Device ID         = {DEVICE_ID}", out)
        self.assertDeviceCreated(fields)
        self.assertAllConfirmed(self.simulated_device(fields["primaryKey"]))
        self.assertEventLog()

    def test_creating_the_device_twice_reports_device_exist(self):
        _, fields = self.create_device_identity()
        res = subprocess.run([PYTHON, "CreateDeviceIdentity.py"], cwd=TUTORIAL_DIR,
                             env=self.env(HUB_OWNER_CS=self.hub.connection_string),
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Unexpected error IoTHubRegistryManager.create_device, "
                      "IoTHubRegistryManagerResult.DEVICE_EXIST", res.stdout)
        self.assertNotIn("iothubDevice.deviceId", res.stdout)
        # A wrong key for the hub: refused, reported the same way.
        cs = parse_connection_string(self.hub.connection_string)
        bad = (f"HostName={cs['HostName']};SharedAccessKeyName={cs['SharedAccessKeyName']};"
               f"SharedAccessKey={'A' * 43}=")
        res = subprocess.run([PYTHON, "CreateDeviceIdentity.py"], cwd=TUTORIAL_DIR,
                             env=self.env(HUB_OWNER_CS=bad), capture_output=True, text=True,
                             timeout=120)
        self.assertIn("Unexpected error IoTHubRegistryManager.create_device, "
                      "IoTHubRegistryManagerResult.HTTP_STATUS_ERROR", res.stdout)

    def test_module_api(self):
        out = self.run_python(CHECK_API, HUB_OWNER_CS=self.hub.connection_string)
        self.assertEqual(out.splitlines()[-2:],
                         ["API OK", "atexit confirmation: BECAUSE_DESTROY"], out)
        # set_option("model_id", ...) went into the CONNECT: the hub records it on the twin
        # (within a second or so) and on the device's telemetry.
        deadline = time.monotonic() + 5
        while True:
            st, _, twin = self.hub.request("GET", "/twins/py-api-1")
            self.assertEqual(st, 200, twin)
            if "modelId" in twin or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(twin.get("modelId"), "dtmi:com:example:Thermostat;1")
        self.assertEqual(self.hub.stop(), 0)
        # The 60 messages of the client that set the option (its other clients did not).
        recs = [r for r in dump_events(self.hub)
                if r["system"].get("message-id", "").startswith("api_")]
        self.assertGreaterEqual(len(recs), 60)
        self.assertTrue(all(r["system"].get("dt-dataschema") == "dtmi:com:example:Thermostat;1"
                            for r in recs), recs[0]["system"])

    def test_under_valgrind(self):
        valgrind = shutil.which("valgrind")
        if self.asan or not valgrind:
            self.skipTest("valgrind runs on an uninstrumented build only" if valgrind
                          else "valgrind is not installed")
        _, fields = self.create_device_identity()
        log_dir = os.path.dirname(os.path.abspath(self.hub.data_dir))
        wrapper = [valgrind, "--quiet", "--error-exitcode=97", "--leak-check=full",
                   "--show-leak-kinds=definite", "--errors-for-leak-kinds=none",
                   "--num-callers=40", f"--log-file={log_dir}/valgrind.%p.log"]

        def reports():
            out = []
            for f in sorted(os.listdir(log_dir)):
                if f.startswith("valgrind."):
                    with open(os.path.join(log_dir, f)) as fh:
                        out.append(fh.read())
            return "\n".join(out)

        try:
            out = self.simulated_device(fields["primaryKey"], wrapper=wrapper, count=3)
            self.run_python(CHECK_API, wrapper=wrapper, timeout=900,
                            HUB_OWNER_CS=self.hub.connection_string)
        except AssertionError as e:
            raise AssertionError(f"{e}\nvalgrind:\n{reports()}") from None
        self.assertAllConfirmed(out, count=3)
        # CPython (PYTHONMALLOC=malloc) loses nothing for good at exit: any definite leak fails.
        report = reports()
        leaks = [b for b in re.split(r"\n(?===\d+== \S)", report) if "definitely lost in" in b]
        self.assertEqual(leaks, [], f"{len([b for b in leaks if OURS.search(b)])} with frames "
                                    f"in the modules or libiothub:\n{report}")
        self.assertEventLog(count=3, only_device=False)

if __name__ == "__main__":
    unittest.main()
