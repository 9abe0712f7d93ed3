"""03: the `iothub` CLI against the real daemon: the device commands, tokens, exit codes,
help, logins, and a restart that keeps everything (issue 2's acceptance)."""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import (SANITIZER_MARKERS, HubTestCase, parse_connection_string,  # noqa: E402
                     sas_token)

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()
KEY_C = base64.b64encode(b"C" * 16).decode()
THUMB = "0123456789abcdef0123456789abcdef01234567"

USAGE = 2
UNAUTHORIZED = 3
NOT_FOUND = 4
CONFLICT = 5
UNREACHABLE = 6


def parse_kv(text):
    """The human form of a device, `key:   value` lines, as a dict."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z0-9 ]+):\s+(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def parse_token(token):
    """SharedAccessSignature sr=..&sig=..&se=..[&skn=..] -> dict of raw (encoded) fields."""
    prefix = "SharedAccessSignature "
    assert token.startswith(prefix), token
    return dict(f.split("=", 1) for f in token[len(prefix):].split("&"))


class CliTestCase(HubTestCase):
    def run_cli(self, *args, rc=0, env=None):
        """Runs iothub, asserts its exit code and that it left no sanitizer report."""
        res = self.hub.cli(*args, check=False, env=env)
        self.assertEqual(res.returncode, rc,
                         f"iothub {' '.join(args)}:\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, res.stderr)
        return res

    def cli_json(self, *args, env=None):
        return json.loads(self.run_cli("--json", *args, env=env).stdout)

    def assertOneErrorLine(self, res, code=None):
        """Errors from the hub are one line on stderr, `error: <code>: <text>`; stdout empty."""
        self.assertEqual(res.stdout, "")
        lines = res.stderr.splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        if code:
            self.assertTrue(lines[0].startswith(f"error: {code}: "), res.stderr)
        else:
            self.assertTrue(lines[0].startswith("error: "), res.stderr)

    def assertUsageError(self, res):
        self.assertEqual(res.stdout, "")
        self.assertTrue(res.stderr.startswith("error: "), res.stderr)
        self.assertIn("usage: iothub", res.stderr)
        self.assertIn("--help", res.stderr)

    def raw_get(self, device_id):
        return self.hub.request("GET", "/devices/" + urllib.parse.quote(device_id, safe=""))

    def raw_device(self, device_id):
        st, _, dev = self.raw_get(device_id)
        self.assertEqual(st, 200, dev)
        return dev

    def login(self, policy="iothubowner", key=None, host=None):
        pol = self.hub.policy(policy)
        return (f"HostName={host or pol['HostName']};SharedAccessKeyName={policy};"
                f"SharedAccessKey={key or pol['SharedAccessKey']}")

    def owner_key(self):
        return parse_connection_string(self.hub.connection_string)["SharedAccessKey"]


class DeviceCreate(CliTestCase):
    def test_hub_generated_keys_json(self):
        dev = self.cli_json("device", "create", "gen-1")
        self.assertEqual(dev["deviceId"], "gen-1")
        self.assertEqual(dev["status"], "enabled")
        self.assertEqual(dev["authentication"]["type"], "sas")
        keys = dev["authentication"]["symmetricKey"]
        for k in ("primaryKey", "secondaryKey"):
            self.assertEqual(len(base64.b64decode(keys[k], validate=True)), 32, keys)
        self.assertNotEqual(keys["primaryKey"], keys["secondaryKey"])
        self.assertEqual(dev["capabilities"], {"iotEdge": False})
        # What the CLI printed is what the hub stored.
        self.assertEqual(self.raw_device("gen-1"), dev)

    def test_hub_generated_keys_human(self):
        res = self.run_cli("device", "create", "gen-h")
        kv = parse_kv(res.stdout)
        self.assertEqual(res.stderr, "")
        dev = self.raw_device("gen-h")
        self.assertEqual(kv["device id"], "gen-h")
        self.assertEqual(kv["status"], "enabled")
        self.assertEqual(kv["status reason"], "-")
        self.assertEqual(kv["auth type"], "sas")
        self.assertEqual(kv["primary key"], dev["authentication"]["symmetricKey"]["primaryKey"])
        self.assertEqual(kv["secondary key"],
                         dev["authentication"]["symmetricKey"]["secondaryKey"])
        self.assertEqual(kv["etag"], dev["etag"])
        self.assertEqual(kv["generation id"], dev["generationId"])
        self.assertEqual(kv["iot edge"], "false")
        self.assertEqual(kv["connection state"], "Disconnected")
        self.assertEqual(kv["last activity"], "never")
        self.assertEqual(kv["c2d messages"], "0")

    def test_supplied_keys(self):
        dev = self.cli_json("device", "create", "keys-2", "--primary-key", KEY_A,
                            "--secondary-key", KEY_B)
        self.assertEqual(dev["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_A, "secondaryKey": KEY_B})
        self.assertEqual(self.raw_device("keys-2")["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_A, "secondaryKey": KEY_B})
        # Only one key (16 bytes, the smallest allowed): the CLI makes the other, 32 bytes.
        dev = self.cli_json("device", "create", "keys-1", f"--primary-key={KEY_C}")
        keys = self.raw_device("keys-1")["authentication"]["symmetricKey"]
        self.assertEqual(keys, dev["authentication"]["symmetricKey"])
        self.assertEqual(keys["primaryKey"], KEY_C)
        self.assertEqual(len(base64.b64decode(keys["secondaryKey"], validate=True)), 32)
        self.assertNotEqual(keys["secondaryKey"], KEY_C)
        dev = self.cli_json("device", "create", "keys-s", "--secondary-key", KEY_B)
        keys = self.raw_device("keys-s")["authentication"]["symmetricKey"]
        self.assertEqual(keys["secondaryKey"], KEY_B)
        self.assertEqual(len(base64.b64decode(keys["primaryKey"], validate=True)), 32)

    def test_bad_keys_and_ids_are_refused_before_sending(self):
        for args in (["bad-key", "--primary-key", "not base64!"],
                     ["bad-key", "--primary-key", base64.b64encode(b"x" * 8).decode()],
                     ["bad-key", "--secondary-key", base64.b64encode(b"x" * 65).decode()],
                     ["bad-key", "--status", "sleeping"],
                     ["bad-key", "--status-reason", "r" * 129],
                     ["bad-key", "--auth", "ca", "--primary-key", KEY_A],
                     ["bad-key", "--x509-primary", "nothex"],
                     ["bad id"],
                     ["x" * 129]):
            res = self.run_cli("device", "create", *args, rc=USAGE)
            self.assertUsageError(res)
        self.assertEqual(self.raw_get("bad-key")[0], 404)
        st, _, devs = self.hub.request("GET", "/devices")
        self.assertEqual(devs, [])

    def test_disabled_with_reason(self):
        res = self.run_cli("device", "create", "off-1", "--status", "disabled",
                           "--status-reason", "not installed yet")
        kv = parse_kv(res.stdout)
        self.assertEqual(kv["status"], "disabled")
        self.assertEqual(kv["status reason"], "not installed yet")
        dev = self.raw_device("off-1")
        self.assertEqual(dev["status"], "disabled")
        self.assertEqual(dev["statusReason"], "not installed yet")
        stats = self.cli_json("statistics")
        self.assertEqual(stats["totalDeviceCount"], 1)
        self.assertEqual(stats["disabledDeviceCount"], 1)
        self.assertEqual(stats["enabledDeviceCount"], 0)
        kv = parse_kv(self.run_cli("statistics").stdout)
        self.assertEqual((kv["total devices"], kv["enabled devices"], kv["disabled devices"]),
                         ("1", "0", "1"))

    def test_edge(self):
        res = self.run_cli("device", "create", "gw-1", "--edge")
        self.assertEqual(parse_kv(res.stdout)["iot edge"], "true")
        self.assertEqual(self.raw_device("gw-1")["capabilities"]["iotEdge"], True)
        self.run_cli("device", "create", "plain-1")
        self.assertEqual(self.raw_device("plain-1")["capabilities"]["iotEdge"], False)

    def test_x509_self_signed(self):
        dev = self.cli_json("device", "create", "cam-1", "--x509-primary", THUMB)
        self.assertEqual(dev["authentication"]["type"], "selfSigned")
        raw = self.raw_device("cam-1")
        self.assertEqual(raw["authentication"]["x509Thumbprint"]["primaryThumbprint"].lower(),
                         THUMB)
        # No symmetric keys: no device connection string (exit 1), no device token.
        res = self.run_cli("device", "connection-string", "cam-1", rc=1)
        self.assertIn("symmetric keys", res.stderr)
        self.assertEqual(res.stdout, "")
        res = self.run_cli("sas-token", "--device", "cam-1", rc=1)
        self.assertEqual(res.stdout, "")

    def test_odd_ids_are_encoded_and_dash_ids_need_double_dash(self):
        odd = "a+b%c#d*e?f!g(h),i=j@k$l'm"
        dev = self.cli_json("device", "create", odd)
        self.assertEqual(dev["deviceId"], odd)
        self.assertEqual(self.raw_device(odd)["deviceId"], odd)
        self.assertEqual(self.cli_json("device", "show", odd)["deviceId"], odd)
        # An id that starts with '-' is an unknown option unless after `--`.
        self.assertUsageError(self.run_cli("device", "create", "-dash", rc=USAGE))
        self.run_cli("device", "create", "--", "-dash")
        self.assertEqual(self.raw_device("-dash")["deviceId"], "-dash")
        self.run_cli("device", "delete", "--", "-dash")
        self.assertEqual(self.raw_get("-dash")[0], 404)

    def test_create_twice_is_conflict_and_keeps_the_first(self):
        first = self.cli_json("device", "create", "dup", "--primary-key", KEY_A,
                              "--secondary-key", KEY_B)
        res = self.run_cli("device", "create", "dup", "--primary-key", KEY_C, rc=CONFLICT)
        self.assertOneErrorLine(res, "DeviceAlreadyExists")
        self.assertEqual(self.raw_device("dup"), first)


class DeviceShowList(CliTestCase):
    def test_show_human_and_json(self):
        created = self.cli_json("device", "create", "s-1", "--status-reason", "first one")
        dev = self.cli_json("device", "show", "s-1")
        self.assertEqual(dev, created)
        self.assertEqual(dev, self.raw_device("s-1"))
        # --json is pretty-printed with two spaces, the hub's member order, nothing else.
        res = self.run_cli("device", "show", "s-1", "--json")  # global option after the id
        self.assertTrue(res.stdout.startswith('{\n  "deviceId": "s-1",\n'), res.stdout)
        self.assertEqual(json.loads(res.stdout), dev)
        self.assertEqual(list(json.loads(res.stdout)), list(self.raw_device("s-1")))

        kv = parse_kv(self.run_cli("device", "show", "s-1").stdout)
        self.assertEqual(kv["device id"], "s-1")
        self.assertEqual(kv["status"], "enabled")
        self.assertEqual(kv["status reason"], "first one")
        self.assertEqual(kv["status updated"], "never")
        self.assertEqual(kv["primary key"], dev["authentication"]["symmetricKey"]["primaryKey"])
        self.assertEqual(kv["secondary key"], dev["authentication"]["symmetricKey"]["secondaryKey"])
        self.assertEqual(kv["etag"], dev["etag"])
        self.assertEqual(kv["generation id"], dev["generationId"])

    def test_show_missing_is_not_found(self):
        res = self.run_cli("device", "show", "nope", rc=NOT_FOUND)
        self.assertOneErrorLine(res, "DeviceNotFound")
        self.assertIn("nope", res.stderr)
        res = self.run_cli("--json", "device", "show", "nope", rc=NOT_FOUND)
        self.assertOneErrorLine(res, "DeviceNotFound")

    def test_list_human_json_and_top(self):
        ids = ["l-0", "l-1", "l-2", "l-3", "l-4"]
        keys = []
        for i, d in enumerate(ids):
            args = ["--status", "disabled"] if i == 1 else []
            dev = self.cli_json("device", "create", d, *args)
            keys += dev["authentication"]["symmetricKey"].values()
        self.cli_json("device", "create", "l-x509", "--x509-primary", THUMB)

        res = self.run_cli("device", "list")
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["DEVICE", "ID", "STATUS", "CONNECTION", "AUTH",
                                            "LAST", "ACTIVITY"])
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(sorted(rows), sorted(ids + ["l-x509"]))
        self.assertEqual(rows["l-0"][1:], ["enabled", "Disconnected", "sas", "never"])
        self.assertEqual(rows["l-1"][1], "disabled")
        self.assertEqual(rows["l-x509"][3], "selfSigned")
        # Columns are aligned: every row has STATUS at the header's column.
        col = lines[0].index("STATUS")
        for line in lines[1:]:
            self.assertIn(line[col:].split()[0], ("enabled", "disabled"), line)
        for k in keys:
            self.assertNotIn(k, res.stdout, "the list table shows no keys")

        devs = self.cli_json("device", "list")
        self.assertIsInstance(devs, list)
        self.assertEqual(sorted(d["deviceId"] for d in devs), sorted(ids + ["l-x509"]))
        _, _, raw = self.hub.request("GET", "/devices")
        self.assertEqual(sorted(devs, key=lambda d: d["deviceId"]),
                         sorted(raw, key=lambda d: d["deviceId"]))

        top = self.cli_json("device", "list", "--top", "2")
        self.assertEqual(len(top), 2)
        self.assertTrue({d["deviceId"] for d in top} <= set(ids + ["l-x509"]))
        res = self.run_cli("device", "list", "--top=3")
        self.assertEqual(len(res.stdout.splitlines()), 1 + 3)
        self.assertEqual(len(self.cli_json("device", "list", "--top", "1000")), 6)
        for bad in ("0", "1001", "-1", "abc", ""):
            self.assertUsageError(self.run_cli("device", "list", f"--top={bad}", rc=USAGE))
        self.assertUsageError(self.run_cli("device", "list", "extra", rc=USAGE))

    def test_empty_list(self):
        self.assertEqual(self.cli_json("device", "list"), [])
        res = self.run_cli("device", "list")
        self.assertEqual(res.stdout.splitlines()[0].split()[:2], ["DEVICE", "ID"])
        self.assertEqual(len(res.stdout.splitlines()), 1)


class DeviceUpdate(CliTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.cli_json("device", "create", "u-1", "--primary-key", KEY_A,
                                 "--secondary-key", KEY_B)

    def test_status_and_reason(self):
        res = self.run_cli("device", "update", "u-1", "--status", "disabled",
                           "--status-reason", "stolen")
        kv = parse_kv(res.stdout)
        raw = self.raw_device("u-1")
        self.assertEqual(raw["status"], "disabled")
        self.assertEqual(raw["statusReason"], "stolen")
        self.assertEqual(kv["status"], "disabled")
        self.assertEqual(kv["status reason"], "stolen")
        self.assertEqual(kv["etag"], raw["etag"])
        self.assertNotEqual(raw["etag"], self.dev["etag"])
        self.assertNotEqual(kv["status updated"], "never")
        # Everything not given is kept.
        self.assertEqual(raw["authentication"], self.dev["authentication"])
        self.assertEqual(raw["generationId"], self.dev["generationId"])
        self.assertEqual(raw["capabilities"], self.dev["capabilities"])

        # Only the reason: the status stays; '' clears the reason.
        upd = self.cli_json("device", "update", "u-1", "--status-reason", "found again")
        self.assertEqual(upd["status"], "disabled")
        self.assertEqual(self.raw_device("u-1")["statusReason"], "found again")
        upd = self.cli_json("device", "update", "u-1", "--status", "enabled",
                            "--status-reason", "")
        raw = self.raw_device("u-1")
        self.assertEqual(upd, raw)
        self.assertEqual(raw["status"], "enabled")
        self.assertIsNone(raw["statusReason"])
        self.assertEqual(parse_kv(self.run_cli("device", "show", "u-1").stdout)["status reason"],
                         "-")

    def test_keys(self):
        upd = self.cli_json("device", "update", "u-1", "--primary-key", KEY_C)
        self.assertEqual(upd["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_C, "secondaryKey": KEY_B})
        self.assertEqual(self.raw_device("u-1")["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_C, "secondaryKey": KEY_B})
        self.cli_json("device", "update", "u-1", "--secondary-key", KEY_A)
        self.assertEqual(self.raw_device("u-1")["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_C, "secondaryKey": KEY_A})
        # A self-signed device given a key is switched to symmetric keys; the other is made.
        self.cli_json("device", "create", "u-x509", "--x509-primary", THUMB)
        upd = self.cli_json("device", "update", "u-x509", "--primary-key", KEY_A)
        raw = self.raw_device("u-x509")
        self.assertEqual(raw, upd)
        self.assertEqual(raw["authentication"]["type"], "sas")
        self.assertEqual(raw["authentication"]["symmetricKey"]["primaryKey"], KEY_A)
        self.assertEqual(len(base64.b64decode(raw["authentication"]["symmetricKey"]
                                              ["secondaryKey"], validate=True)), 32)
        self.assertUsageError(self.run_cli("device", "update", "u-1", "--primary-key", "!!",
                                           rc=USAGE))
        self.assertEqual(self.raw_device("u-1")["authentication"]["symmetricKey"]["primaryKey"],
                         KEY_C)

    def test_etag_current_works_stale_is_conflict_and_changes_nothing(self):
        etag = self.dev["etag"]
        upd = self.cli_json("device", "update", "u-1", "--status", "disabled", "--etag", etag)
        self.assertEqual(upd["status"], "disabled")
        before = self.raw_device("u-1")
        self.assertEqual(before, upd)

        res = self.run_cli("device", "update", "u-1", "--status", "enabled",
                           "--primary-key", KEY_C, "--etag", etag, rc=CONFLICT)
        self.assertOneErrorLine(res, "PreconditionFailed")
        self.assertEqual(self.raw_device("u-1"), before, "a stale etag changes nothing")
        res = self.run_cli("device", "delete", "u-1", "--etag", etag, rc=CONFLICT)
        self.assertOneErrorLine(res, "PreconditionFailed")
        self.assertEqual(self.raw_device("u-1"), before)

        # The current etag works, with or without quotes.
        upd = self.cli_json("device", "update", "u-1", "--status", "enabled",
                            "--etag", f'"{before["etag"]}"')
        self.assertEqual(self.raw_device("u-1")["status"], "enabled")
        self.assertNotEqual(upd["etag"], before["etag"])
        for bad in ('"', 'a"b', "", "x\ny"):
            self.assertUsageError(self.run_cli("device", "update", "u-1", "--status",
                                               "disabled", "--etag", bad, rc=USAGE))
        self.assertEqual(self.raw_device("u-1"), upd)

    def test_update_errors(self):
        res = self.run_cli("device", "update", "ghost", "--status", "disabled", rc=NOT_FOUND)
        self.assertOneErrorLine(res, "DeviceNotFound")
        self.assertEqual(self.raw_get("ghost")[0], 404)
        self.assertUsageError(self.run_cli("device", "update", "u-1", rc=USAGE))  # no field
        self.assertUsageError(self.run_cli("device", "update", "u-1", "--status", "asleep",
                                           rc=USAGE))
        self.assertUsageError(self.run_cli("device", "update", "--status", "disabled",
                                           rc=USAGE))  # no id
        self.assertEqual(self.raw_device("u-1"), self.dev)


class DeviceDelete(CliTestCase):
    def test_delete_then_show_is_not_found(self):
        self.cli_json("device", "create", "d-1")
        self.cli_json("device", "create", "d-2")
        res = self.run_cli("device", "delete", "d-1")
        self.assertEqual(res.stdout, "deleted device 'd-1'\n")
        self.assertEqual(self.raw_get("d-1")[0], 404)
        self.assertOneErrorLine(self.run_cli("device", "show", "d-1", rc=NOT_FOUND),
                                "DeviceNotFound")
        self.assertOneErrorLine(self.run_cli("device", "delete", "d-1", rc=NOT_FOUND),
                                "DeviceNotFound")
        self.assertEqual([d["deviceId"] for d in self.cli_json("device", "list")], ["d-2"])
        # --json prints nothing; --etag with the current etag works.
        etag = self.raw_device("d-2")["etag"]
        res = self.run_cli("--json", "device", "delete", "d-2", "--etag", etag)
        self.assertEqual(res.stdout, "")
        self.assertEqual(self.raw_get("d-2")[0], 404)
        self.assertEqual(self.cli_json("device", "list"), [])

    def test_recreate_after_delete_is_a_new_generation(self):
        first = self.cli_json("device", "create", "again")
        self.run_cli("device", "delete", "again")
        second = self.cli_json("device", "create", "again")
        self.assertNotEqual(first["generationId"], second["generationId"])
        self.assertNotEqual(first["authentication"], second["authentication"])


class ConnectionStringAndTokens(CliTestCase):
    def test_device_connection_string(self):
        dev = self.cli_json("device", "create", "cs-1")
        keys = dev["authentication"]["symmetricKey"]
        out = self.run_cli("device", "connection-string", "cs-1").stdout
        self.assertTrue(out.endswith("\n") and out.count("\n") == 1, out)
        cs = parse_connection_string(out)
        self.assertEqual(set(cs), {"HostName", "DeviceId", "SharedAccessKey"})
        self.assertEqual(cs["HostName"],
                         parse_connection_string(self.hub.connection_string)["HostName"])
        self.assertEqual(cs["DeviceId"], "cs-1")
        self.assertEqual(cs["SharedAccessKey"], keys["primaryKey"])
        self.assertEqual(out, "HostName=localhost;DeviceId=cs-1;"
                              f"SharedAccessKey={keys['primaryKey']}\n")
        sec = parse_connection_string(self.run_cli("device", "connection-string", "cs-1",
                                                   "--key", "secondary").stdout)
        self.assertEqual(sec["SharedAccessKey"], keys["secondaryKey"])
        wrapped = self.cli_json("device", "connection-string", "cs-1")
        self.assertEqual(wrapped, {"connectionString": out.strip()})

        # A device token from that key is exactly what `sas-token --device` signs.
        tok = self.run_cli("sas-token", "--device", "cs-1").stdout.strip()
        se = int(parse_token(tok)["se"])
        self.assertEqual(tok, sas_token(f"{cs['HostName']}/devices/{cs['DeviceId']}",
                                        cs["SharedAccessKey"], expiry=se))

        self.assertOneErrorLine(self.run_cli("device", "connection-string", "nope",
                                             rc=NOT_FOUND), "DeviceNotFound")
        self.assertUsageError(self.run_cli("device", "connection-string", "cs-1", "--key",
                                           "tertiary", rc=USAGE))

    def test_service_token_is_accepted_by_the_hub(self):
        self.cli_json("device", "create", "t-1")
        before = int(time.time())
        tok = self.run_cli("sas-token").stdout.strip()
        fields = parse_token(tok)
        self.assertEqual(fields["sr"], "localhost")
        self.assertEqual(fields["skn"], "iothubowner")
        self.assertTrue(before + 3600 <= int(fields["se"]) <= int(time.time()) + 3600 + 1)
        st, _, devs = self.hub.request("GET", "/devices", token=tok)
        self.assertEqual(st, 200)
        self.assertEqual([d["deviceId"] for d in devs], ["t-1"])
        # The hub checks the signature: a tampered token is refused.
        bad = tok.replace(f"se={fields['se']}", f"se={int(fields['se']) + 1}")
        self.assertEqual(self.hub.request("GET", "/devices", token=bad)[0], 401)

        # --json and --duration.
        j = self.cli_json("sas-token", "--duration", "60")
        self.assertEqual(j["resource"], "localhost")
        self.assertEqual(j["policy"], "iothubowner")
        self.assertTrue(abs(j["expiry"] - (time.time() + 60)) < 5, j)
        self.assertEqual(parse_token(j["sharedAccessSignature"])["se"], str(j["expiry"]))
        self.assertEqual(self.hub.request("GET", "/devices/t-1",
                                          token=j["sharedAccessSignature"])[0], 200)
        for bad in ("0", "315360001", "x"):
            self.assertUsageError(self.run_cli("sas-token", "--duration", bad, rc=USAGE))

    def test_policy_token_carries_the_policy_rights(self):
        self.cli_json("device", "create", "t-2")
        key = self.hub.policy("registryRead")["SharedAccessKey"]
        tok = self.run_cli("sas-token", "--policy", "registryRead", "--key", key).stdout.strip()
        self.assertEqual(parse_token(tok)["skn"], "registryRead")
        self.assertEqual(self.hub.request("GET", "/devices/t-2", token=tok)[0], 200)
        st, _, _ = self.hub.request("DELETE", "/devices/t-2", token=tok)
        self.assertEqual(st, 401)
        self.assertEqual(self.raw_get("t-2")[0], 200)
        # Another policy's key cannot be guessed: usage error; --key alone needs a target.
        self.assertUsageError(self.run_cli("sas-token", "--policy", "registryRead", rc=USAGE))
        self.assertUsageError(self.run_cli("sas-token", "--key", key, rc=USAGE))
        self.assertUsageError(self.run_cli("sas-token", "--policy", "a", "--device", "b",
                                           rc=USAGE))
        # --resource with --key needs no login at all.
        res = self.run_cli("sas-token", "--resource", "localhost", "--policy", "registryRead",
                           "--key", key, env={"IOTHUB_CONNECTION_STRING": ""})
        tok = res.stdout.strip()
        self.assertEqual(self.hub.request("GET", "/devices/t-2", token=tok)[0], 200)

    def test_device_token_signs_the_device_resource(self):
        dev = self.cli_json("device", "create", "t-3")
        pk = dev["authentication"]["symmetricKey"]["primaryKey"]
        j = self.cli_json("sas-token", "--device", "t-3", "--duration", "86400")
        self.assertEqual(j["resource"], "localhost/devices/t-3")
        self.assertIsNone(j["policy"])
        fields = parse_token(j["sharedAccessSignature"])
        self.assertEqual(fields["sr"], "localhost%2Fdevices%2Ft-3")
        self.assertNotIn("skn", fields)
        self.assertEqual(j["sharedAccessSignature"],
                         sas_token("localhost/devices/t-3", pk, expiry=j["expiry"]))
        # With --key the hub is not asked: the key given is used.
        j = self.cli_json("sas-token", "--device", "t-3", "--key", KEY_A)
        self.assertEqual(j["sharedAccessSignature"],
                         sas_token("localhost/devices/t-3", KEY_A, expiry=j["expiry"]))
        self.assertOneErrorLine(self.run_cli("sas-token", "--device", "nope", rc=NOT_FOUND),
                                "DeviceNotFound")


class Restart(CliTestCase):
    def test_restart_keeps_everything(self):
        self.cli_json("device", "create", "r-gen")
        self.cli_json("device", "create", "r-keys", "--primary-key", KEY_A,
                      "--secondary-key", KEY_B)
        self.cli_json("device", "create", "r-off", "--status", "disabled",
                      "--status-reason", "spare")
        self.cli_json("device", "create", "r-edge", "--edge")
        self.cli_json("device", "create", "r-x509", "--x509-primary", THUMB)
        self.cli_json("device", "create", "r-upd")
        self.cli_json("device", "update", "r-upd", "--status", "disabled",
                      "--primary-key", KEY_C)
        self.cli_json("device", "create", "r-gone")
        self.run_cli("device", "delete", "r-gone")

        def snapshot():
            listed = sorted(self.cli_json("device", "list"), key=lambda d: d["deviceId"])
            shown = {d["deviceId"]: self.cli_json("device", "show", d["deviceId"])
                     for d in listed}
            table = sorted(self.run_cli("device", "list").stdout.splitlines()[1:])
            return listed, shown, table, self.cli_json("statistics")

        before = snapshot()
        self.assertEqual([d["deviceId"] for d in before[0]],
                         ["r-edge", "r-gen", "r-keys", "r-off", "r-upd", "r-x509"])
        cs_before = self.hub.connection_string
        self.assertEqual(self.hub.stop(), 0, "iothubd did not exit cleanly")
        # While the hub is down the CLI cannot reach it.
        self.assertOneErrorLine(self.run_cli("device", "list", rc=UNREACHABLE))
        self.hub.start()
        self.assertEqual(self.hub.connection_string, cs_before)

        after = snapshot()
        self.assertEqual(after[0], before[0], "list --json: same devices, etags and keys")
        self.assertEqual(after[1], before[1], "show --json: same devices, etags and keys")
        self.assertEqual(after[2], before[2], "list table")
        self.assertEqual(after[3], before[3], "statistics")
        upd = after[1]["r-upd"]
        self.assertEqual(upd["status"], "disabled")
        self.assertEqual(upd["authentication"]["symmetricKey"]["primaryKey"], KEY_C)
        self.assertEqual(after[1]["r-keys"]["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_A, "secondaryKey": KEY_B})
        self.assertEqual(after[1]["r-edge"]["capabilities"]["iotEdge"], True)
        self.assertEqual(after[1]["r-off"]["statusReason"], "spare")
        self.assertOneErrorLine(self.run_cli("device", "show", "r-gone", rc=NOT_FOUND),
                                "DeviceNotFound")

        # Etags still guard writes after the restart; the registry keeps working.
        etag = after[1]["r-gen"]["etag"]
        self.cli_json("device", "update", "r-gen", "--status", "disabled", "--etag", etag)
        self.run_cli("device", "update", "r-gen", "--status", "enabled", "--etag", etag,
                     rc=CONFLICT)
        self.assertOneErrorLine(self.run_cli("device", "create", "r-keys", rc=CONFLICT),
                                "DeviceAlreadyExists")
        self.cli_json("device", "create", "r-new")
        self.assertEqual(len(self.cli_json("device", "list")), 7)


class ExitCodesAndLogin(CliTestCase):
    def test_usage_errors_are_2(self):
        self.cli_json("device", "create", "e-1")
        cases = [
            ["device", "list", "--bogus"],
            ["--bogus", "device", "list"],
            ["device", "show", "e-1", "--no-such-flag"],
            ["device", "show"],
            ["device", "delete"],
            ["device", "connection-string"],
            ["device", "create"],
            ["device", "show", "e-1", "e-2"],
            ["device", "frobnicate"],
            ["device"],
            ["nosuchcommand"],
            [],
            ["device", "show", "e-1", "-x"],
            ["device", "list", "--json=yes"],
            ["device", "show", "--login"],
            ["help", "nosuchcommand"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertUsageError(self.run_cli(*args, rc=USAGE))
        self.assertEqual(self.raw_device("e-1")["deviceId"], "e-1")

    def test_bad_logins_are_2(self):
        cases = [
            "",  # no connection string at all
            "garbage",
            "HostName=localhost;SharedAccessKeyName=iothubowner",
            "HostName=localhost;DeviceId=d;SharedAccessKey=" + KEY_A,  # a device string
            "HostName=local/host;SharedAccessKeyName=iothubowner;SharedAccessKey=" + KEY_A,
            "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=sec!ret%%",
        ]
        for login in cases:
            with self.subTest(login=login):
                res = self.run_cli("device", "list", rc=USAGE,
                                   env={"IOTHUB_CONNECTION_STRING": login})
                self.assertEqual(res.stdout, "")
                self.assertTrue(res.stderr.startswith("error: "), res.stderr)
                self.assertNotIn("sec!ret", res.stderr, "no key in the error")
                self.assertNotIn(KEY_A, res.stderr)
        res = self.run_cli("device", "list", rc=USAGE,
                           env={"IOTHUB_CA_FILE": "/nonexistent/ca.pem"})
        self.assertIn("/nonexistent/ca.pem", res.stderr)

    def test_wrong_key_is_3_and_login_overrides_env(self):
        wrong_key = base64.b64encode(b"w" * 32).decode()
        wrong = self.login(key=wrong_key)
        # --login with a wrong key: 401, exit 3, nothing created.
        res = self.run_cli("--login", wrong, "device", "create", "w-1", rc=UNAUTHORIZED)
        self.assertOneErrorLine(res)
        self.assertIn("Unauthorized", res.stderr)
        self.assertNotIn(wrong_key, res.stderr)
        self.assertNotIn(self.owner_key(), res.stderr)
        self.assertEqual(self.raw_get("w-1")[0], 404)
        # The env var holds the wrong key; --login (before or after the command) wins.
        env = {"IOTHUB_CONNECTION_STRING": wrong}
        self.run_cli("device", "list", rc=UNAUTHORIZED, env=env)
        self.run_cli("--login", self.hub.connection_string, "device", "create", "w-1",
                     env=env)
        self.run_cli("device", "show", "w-1", f"--login={self.hub.connection_string}",
                     env=env)
        self.assertEqual(self.raw_device("w-1")["deviceId"], "w-1")
        # And the other way round: a right env var, a wrong --login.
        self.run_cli("--login", wrong, "device", "delete", "w-1", rc=UNAUTHORIZED)
        self.assertEqual(self.raw_get("w-1")[0], 200)
        # The login's policy decides the rights: registryRead may read, not write.
        ro = self.login("registryRead")
        self.run_cli("--login", ro, "device", "show", "w-1")
        self.assertEqual(len(self.cli_json("--login", ro, "device", "list")), 1)
        self.run_cli("--login", ro, "device", "delete", "w-1", rc=UNAUTHORIZED)
        self.run_cli("--login", ro, "device", "create", "w-2", rc=UNAUTHORIZED)
        self.assertEqual(self.raw_get("w-1")[0], 200)
        self.assertEqual(self.raw_get("w-2")[0], 404)
        # The sas-token default is signed with the --login's policy and key.
        tok = self.run_cli("--login", ro, "sas-token").stdout.strip()
        self.assertEqual(parse_token(tok)["skn"], "registryRead")
        self.assertEqual(self.hub.request("GET", "/devices", token=tok)[0], 200)

    def test_not_found_is_4_and_conflict_is_5(self):
        for args in (["device", "show", "nope"], ["device", "delete", "nope"],
                     ["device", "update", "nope", "--status", "disabled"],
                     ["device", "connection-string", "nope"]):
            with self.subTest(args=args):
                self.assertOneErrorLine(self.run_cli(*args, rc=NOT_FOUND), "DeviceNotFound")
        self.run_cli("device", "create", "c-1")
        self.assertOneErrorLine(self.run_cli("device", "create", "c-1", rc=CONFLICT),
                                "DeviceAlreadyExists")
        self.assertOneErrorLine(self.run_cli("--json", "device", "create", "c-1", rc=CONFLICT),
                                "DeviceAlreadyExists")

    def test_unreachable_is_6(self):
        key = self.owner_key()
        for host in ("localhost:1", "127.0.0.1:1", "no-such-host.invalid"):
            with self.subTest(host=host):
                login = f"HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey={key}"
                res = self.run_cli("--login", login, "device", "list", rc=UNREACHABLE)
                self.assertOneErrorLine(res)
                self.assertNotIn(key, res.stderr)
        # A certificate the CLI does not trust (system CAs only) is "cannot reach" too.
        res = self.run_cli("device", "list", rc=UNREACHABLE, env={"IOTHUB_CA_FILE": ""})
        self.assertOneErrorLine(res)
        # So is a CA file that is not the hub's CA.
        with tempfile.TemporaryDirectory() as tmp:
            other = os.path.join(tmp, "other.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                            os.path.join(tmp, "k.pem"), "-out", other, "-days", "1",
                            "-subj", "/CN=other CA"], check=True, capture_output=True)
            res = self.run_cli("--cafile", other, "device", "list", rc=UNREACHABLE)
            self.assertOneErrorLine(res)
        # The explicit port of the hub works (HostName with :443).
        login = f"HostName=localhost:443;SharedAccessKeyName=iothubowner;SharedAccessKey={key}"
        self.assertEqual(self.cli_json("--login", login, "device", "list"), [])
        self.run_cli("--login", login, "device", "create", "port-1")
        cs = parse_connection_string(self.run_cli("--login", login, "device",
                                                  "connection-string", "port-1").stdout)
        self.assertEqual(cs["HostName"], "localhost:443")
        self.assertEqual(cs["SharedAccessKey"],
                         self.raw_device("port-1")["authentication"]["symmetricKey"]
                         ["primaryKey"])

    def test_errors_never_print_keys(self):
        dev = self.cli_json("device", "create", "k-1", "--primary-key", KEY_A,
                            "--secondary-key", KEY_B)
        etag = dev["etag"]
        self.cli_json("device", "update", "k-1", "--status", "disabled")
        owner = self.owner_key()
        failing = [
            (["device", "create", "k-1", "--primary-key", KEY_A, "--secondary-key", KEY_B],
             CONFLICT),
            (["device", "update", "k-1", "--primary-key", KEY_C, "--etag", etag], CONFLICT),
            (["device", "update", "k-1", "--primary-key", KEY_C + "!"], USAGE),
            (["device", "delete", "k-1", "--etag", etag], CONFLICT),
            (["device", "show", "k-2"], NOT_FOUND),
            (["sas-token", "--policy", "registryRead", "--key", "%%" + KEY_C + "%%",
              "--resource", "localhost"], USAGE),
        ]
        for args, rc in failing:
            for json_flag in ([], ["--json"]):
                with self.subTest(args=args, json=json_flag):
                    res = self.run_cli(*json_flag, *args, rc=rc)
                    self.assertEqual(res.stdout, "")
                    for k in (KEY_A, KEY_B, KEY_C, owner):
                        self.assertNotIn(k, res.stderr)
        self.assertEqual(self.raw_device("k-1")["authentication"]["symmetricKey"],
                         {"primaryKey": KEY_A, "secondaryKey": KEY_B})


HELP = {
    (): ["--login", "--json", "--cafile", "--version", "device", "sas-token", "statistics",
         "IOTHUB_CONNECTION_STRING", "IOTHUB_CA_FILE"],
    ("device",): ["create", "show", "list", "update", "delete", "connection-string"],
    ("device", "create"): ["--primary-key", "--secondary-key", "--status", "--status-reason",
                           "--edge", "--x509-primary", "--x509-secondary", "--auth"],
    ("device", "show"): ["ID", "--json", "--login"],
    ("device", "list"): ["--top"],
    ("device", "update"): ["--status", "--status-reason", "--primary-key", "--secondary-key",
                           "--etag"],
    ("device", "delete"): ["--etag"],
    ("device", "connection-string"): ["--key"],
    ("sas-token",): ["--resource", "--policy", "--device", "--key", "--duration"],
    ("statistics",): ["--service"],
    ("help",): ["command"],
}


class Help(CliTestCase):
    def test_help_on_every_command(self):
        no_login = {"IOTHUB_CONNECTION_STRING": "", "IOTHUB_CA_FILE": ""}
        for cmd, words in HELP.items():
            with self.subTest(cmd=cmd):
                res = self.run_cli(*cmd, "--help", env=no_login)
                self.assertEqual(res.stderr, "")
                self.assertTrue(res.stdout.startswith("usage: iothub"), res.stdout)
                for w in words + ["--help"]:
                    self.assertIn(w, res.stdout)
                for w in ("--login", "--json", "--cafile"):  # global options everywhere
                    self.assertIn(w, res.stdout)
                self.assertEqual(self.run_cli(*cmd, "-h", env=no_login).stdout, res.stdout)
                if cmd and cmd != ("help",):
                    self.assertEqual(self.run_cli("help", *cmd, env=no_login).stdout,
                                     res.stdout)
        # --help wins over missing arguments and comes anywhere.
        res = self.run_cli("device", "update", "--help", env=no_login)
        self.assertIn("--etag", res.stdout)
        res = self.run_cli("device", "create", "x", "--help", "--status", "enabled")
        self.assertIn("--edge", res.stdout)
        self.assertEqual(self.raw_get("x")[0], 404, "--help sends nothing")
        # The top-level help lists the exit codes.
        top = self.run_cli("--help").stdout
        for code in range(0, 8):
            self.assertRegex(top, rf"(?m)^\s+{code}\s+\S")
        self.assertRegex(self.run_cli("--version").stdout, r"^iothub \d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main(verbosity=2)
