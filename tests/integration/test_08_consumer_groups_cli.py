"""08: consumer groups of the Event Hubs-compatible endpoint through the CLI and the REST
extension (/eventhub/consumergroups), kept across restarts; `iothub hub connection-string`
with and without --eventhub."""
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from hubtest import SANITIZER_MARKERS, HubTestCase, parse_connection_string  # noqa: E402

USAGE = 2
UNAUTHORIZED = 3
NOT_FOUND = 4
CONFLICT = 5
BAD_REQUEST = 7


class ConsumerGroupCase(HubTestCase):
    def run_cli(self, *args, rc=0, env=None):
        res = self.hub.cli(*args, check=False, env=env)
        self.assertEqual(res.returncode, rc,
                         f"iothub {' '.join(args)}:\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, res.stderr)
        return res

    def names(self):
        return self.run_cli("consumer-group", "list").stdout.splitlines()

    def assertHubErrorLine(self, res, code):
        self.assertEqual(res.stdout, "")
        lines = res.stderr.splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith(f"error: {code}: "), res.stderr)

    def login(self, policy):
        pol = self.hub.policy(policy)
        return (f"HostName={pol['HostName']};SharedAccessKeyName={policy};"
                f"SharedAccessKey={pol['SharedAccessKey']}")


class ConsumerGroups(ConsumerGroupCase):
    def test_default_only_at_first(self):
        self.assertEqual(self.names(), ["$Default"])
        out = json.loads(self.run_cli("--json", "consumer-group", "list").stdout)
        self.assertEqual(out, [{"name": "$Default"}])

    def test_create_list_delete(self):
        res = self.run_cli("consumer-group", "create", "Dashboards")
        self.assertEqual(res.stdout, "created consumer group 'Dashboards'\n")
        self.assertEqual(res.stderr, "")
        made = json.loads(self.run_cli("--json", "consumer-group", "create", "alerts").stdout)
        self.assertEqual(made, {"name": "alerts"})
        self.run_cli("consumer-group", "create", "a.b_c-9")
        # $Default first, then case-insensitive order, spelling as created.
        self.assertEqual(self.names(), ["$Default", "a.b_c-9", "alerts", "Dashboards"])
        # Names compare case-insensitively.
        res = self.run_cli("consumer-group", "delete", "DASHBOARDS")
        self.assertEqual(res.stdout, "deleted consumer group 'DASHBOARDS'\n")
        res = self.run_cli("--json", "consumer-group", "delete", "alerts")
        self.assertEqual(res.stdout, "")
        self.assertEqual(self.names(), ["$Default", "a.b_c-9"])
        # Gone for good, and made again.
        self.run_cli("consumer-group", "create", "dashboards")
        self.assertEqual(self.names(), ["$Default", "a.b_c-9", "dashboards"])

    def test_kept_across_restart(self):
        self.run_cli("consumer-group", "create", "Keep-Me")
        self.run_cli("consumer-group", "create", "drop-me")
        self.run_cli("consumer-group", "delete", "drop-me")
        self.assertEqual(self.hub.stop(), 0)
        self.hub.start()
        self.assertEqual(self.names(), ["$Default", "Keep-Me"])
        res = self.run_cli("consumer-group", "create", "keep-me", rc=CONFLICT)
        self.assertHubErrorLine(res, "ConsumerGroupAlreadyExists")

    def test_duplicates_conflict(self):
        self.run_cli("consumer-group", "create", "grp")
        for name in ("grp", "GRP", "$Default", "$default"):
            res = self.run_cli("consumer-group", "create", name, rc=CONFLICT)
            self.assertHubErrorLine(res, "ConsumerGroupAlreadyExists")
        self.assertEqual(self.names(), ["$Default", "grp"])

    def test_default_cannot_be_deleted(self):
        for name in ("$Default", "$default", "$DEFAULT"):
            res = self.run_cli("consumer-group", "delete", name, rc=BAD_REQUEST)
            self.assertHubErrorLine(res, "ArgumentInvalid")
            self.assertIn("$Default", res.stderr)
        self.assertEqual(self.names(), ["$Default"])

    def test_delete_unknown_is_not_found(self):
        res = self.run_cli("consumer-group", "delete", "nope", rc=NOT_FOUND)
        self.assertHubErrorLine(res, "NotFound")

    def test_bad_names(self):
        for name in ("has space", "slash/inside", "$other", "x" * 51, "caf\u00e9", "semi;colon",
                     "star*"):
            res = self.run_cli("consumer-group", "create", name, rc=BAD_REQUEST)
            self.assertHubErrorLine(res, "ArgumentInvalid")
            res = self.run_cli("consumer-group", "delete", name, rc=BAD_REQUEST)
            self.assertHubErrorLine(res, "ArgumentInvalid")
        self.run_cli("consumer-group", "create", "x" * 50)  # the longest allowed
        self.assertEqual(self.names(), ["$Default", "x" * 50])
        # Usage errors never reach the hub.
        for args in (["consumer-group", "create", ""], ["consumer-group", "create"],
                     ["consumer-group", "create", "a", "b"], ["consumer-group", "list", "x"],
                     ["consumer-group"], ["consumer-group", "rename", "a"]):
            res = self.run_cli(*args, rc=USAGE)
            self.assertEqual(res.stdout, "")
            self.assertTrue(res.stderr.startswith("error: "), res.stderr)

    def test_rights(self):
        # registryRead lists; writes need RegistryWrite; service has neither.
        read = {"IOTHUB_CONNECTION_STRING": self.login("registryRead")}
        self.assertEqual(self.run_cli("consumer-group", "list", env=read).stdout, "$Default\n")
        res = self.run_cli("consumer-group", "create", "g", env=read, rc=UNAUTHORIZED)
        self.assertHubErrorLine(res, "IotHubUnauthorizedAccess")
        rw = {"IOTHUB_CONNECTION_STRING": self.login("registryReadWrite")}
        self.run_cli("consumer-group", "create", "g", env=rw)
        self.run_cli("consumer-group", "delete", "g", env=rw)
        svc = {"IOTHUB_CONNECTION_STRING": self.login("service")}
        self.run_cli("consumer-group", "list", env=svc, rc=UNAUTHORIZED)

    def test_help(self):
        res = self.run_cli("consumer-group", "--help")
        for word in ("create", "list", "delete"):
            self.assertIn(word, res.stdout)
        self.assertIn("consumer-group", self.run_cli("--help").stdout)


class RestExtension(HubTestCase):
    """The REST shapes the CLI relies on."""

    def test_put_get_delete(self):
        st, _, body = self.hub.request("PUT", "/eventhub/consumergroups/Mixed.Case")
        self.assertEqual((st, body), (200, {"name": "Mixed.Case"}))
        st, _, body = self.hub.request("GET", "/eventhub/consumergroups")
        self.assertEqual((st, body), (200, [{"name": "$Default"}, {"name": "Mixed.Case"}]))
        self.assertHubError(self.hub.request("PUT", "/eventhub/consumergroups/mixed.case"), 409,
                            "ConsumerGroupAlreadyExists")
        self.assertHubError(self.hub.request("DELETE", "/eventhub/consumergroups/%24Default"),
                            400, "ArgumentInvalid")
        st, _, body = self.hub.request("DELETE", "/eventhub/consumergroups/MIXED.CASE")
        self.assertEqual((st, body), (204, b""))
        self.assertHubError(self.hub.request("DELETE", "/eventhub/consumergroups/mixed.case"),
                            404, "NotFound")
        self.assertHubError(self.hub.request("PUT", "/eventhub/consumergroups/" +
                                             urllib.parse.quote("a b", safe="")), 400,
                            "ArgumentInvalid")
        self.assertHubError(self.hub.request("POST", "/eventhub/consumergroups/x"), 405,
                            "MethodNotAllowed")
        self.assertHubError(self.hub.request("GET", "/eventhub/consumergroups", token=""), 401,
                            "IotHubUnauthorizedAccess")


class HubConnectionString(ConsumerGroupCase):
    def test_login_string(self):
        res = self.run_cli("hub", "connection-string")
        self.assertEqual(res.stdout, self.hub.connection_string + "\n")
        out = json.loads(self.run_cli("--json", "hub", "connection-string").stdout)
        self.assertEqual(out, {"connectionString": self.hub.connection_string})

    def test_eventhub_string(self):
        cs = parse_connection_string(self.hub.connection_string)
        res = self.run_cli("hub", "connection-string", "--eventhub")
        self.assertEqual(res.stdout,
                         f"Endpoint=sb://localhost/;SharedAccessKeyName=iothubowner;"
                         f"SharedAccessKey={cs['SharedAccessKey']};EntityPath=localhost\n")
        out = json.loads(self.run_cli("--json", "hub", "connection-string", "--eventhub").stdout)
        self.assertEqual(parse_connection_string(out["connectionString"]),
                         {"Endpoint": "sb://localhost/", "SharedAccessKeyName": "iothubowner",
                          "SharedAccessKey": cs["SharedAccessKey"], "EntityPath": "localhost"})
        # --policy names the login's policy (any case); keys of others are not available.
        self.run_cli("hub", "connection-string", "--eventhub", "--policy", "IotHubOwner")
        res = self.run_cli("hub", "connection-string", "--eventhub", "--policy", "service",
                           rc=USAGE)
        self.assertNotIn(cs["SharedAccessKey"], res.stderr)
        self.assertIn("--print-connection-string service", res.stderr)
        # A non-default AMQP port goes into the endpoint.
        res = self.run_cli("hub", "connection-string", "--eventhub", "--amqp-port", "15671")
        self.assertTrue(res.stdout.startswith("Endpoint=sb://localhost:15671/;"), res.stdout)
        self.run_cli("hub", "connection-string", "--amqp-port", "15671", rc=USAGE)

    def test_eventhub_string_from_a_dotted_host_with_port(self):
        """Computed from the login alone: the hub name is HostName's first label, the
        HTTPS port is not the AMQP one."""
        key = parse_connection_string(self.hub.connection_string)["SharedAccessKey"]
        login = f"HostName=MyHub.example.net:8443;SharedAccessKeyName=service;SharedAccessKey={key}"
        res = self.run_cli("hub", "connection-string", "--eventhub",
                           env={"IOTHUB_CONNECTION_STRING": login})
        self.assertEqual(res.stdout,
                         f"Endpoint=sb://MyHub.example.net/;SharedAccessKeyName=service;"
                         f"SharedAccessKey={key};EntityPath=MyHub\n")
        res = self.run_cli("hub", "connection-string", env={"IOTHUB_CONNECTION_STRING": login})
        self.assertEqual(res.stdout, login + "\n")

    def test_bad_login(self):
        res = self.run_cli("hub", "connection-string", "--eventhub",
                           env={"IOTHUB_CONNECTION_STRING": "HostName=x;DeviceId=d;"
                                                            "SharedAccessKey=AAAA"}, rc=USAGE)
        self.assertNotIn("AAAA", res.stderr)
        self.assertEqual(res.stdout, "")


if __name__ == "__main__":
    unittest.main()
