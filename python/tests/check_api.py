"""Checks the iothub_client / iothub_service_client API beyond what the tutorial's programs use,
against a running iothubd. Run by tests/integration/test_12_python_tutorial.py (possibly under
ASan or valgrind) with HUB_OWNER_CS, IOTHUB_CA_FILE and PYTHONPATH set; prints "API OK" and,
from a confirmation delivered by the modules' atexit hook, "atexit confirmation:
BECAUSE_DESTROY". Any failure raises (exit status 1)."""
import base64
import gc
import os
import sys
import threading
import time
import warnings

import iothub_client
import iothub_service_client
from iothub_client import (DeviceMethodReturnValue, IoTHubClient, IoTHubClientConfirmationResult,
                           IoTHubClientError, IoTHubClientRetryPolicy, IoTHubClientStatus,
                           IoTHubConnectionStatus, IoTHubError, IoTHubMap, IoTHubMapError,
                           IoTHubMessage, IoTHubMessageContent, IoTHubMessageDispositionResult,
                           IoTHubMessageError, IoTHubTransportProvider)
from iothub_service_client import (IoTHubDeviceConnectionState, IoTHubDeviceStatus,
                                   IoTHubRegistryManager, IoTHubRegistryManagerAuthMethod,
                                   IoTHubRegistryManagerError, IoTHubRegistryManagerResult,
                                   IoTHubServiceClientAuth)

HUB_CS = os.environ["HUB_OWNER_CS"]
HOST = dict(p.split("=", 1) for p in HUB_CS.split(";"))["HostName"]
CONFIRMATIONS = IoTHubClientConfirmationResult


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError(f"{fn} did not raise {exc_type.__name__}")


def key(seed):
    return base64.b64encode(bytes([seed]) * 32).decode()


def enums():
    ok = CONFIRMATIONS.OK
    check(str(ok) == "OK" and "%s" % ok == "OK" and "{0}".format(ok) == "OK", "str of a member")
    check(repr(ok) == "iothub_client.IoTHubClientConfirmationResult.OK", repr(ok))
    check(ok == 0 and int(CONFIRMATIONS.ERROR) == 3 and isinstance(ok, int), "members are ints")
    check(CONFIRMATIONS.values[2] is CONFIRMATIONS.MESSAGE_TIMEOUT, "values")
    check(CONFIRMATIONS.names["BECAUSE_DESTROY"] == 1, "names")
    check(CONFIRMATIONS(3).name == "ERROR" and str(CONFIRMATIONS(3)) == "ERROR", "call by value")
    check(CONFIRMATIONS(42).name is None and str(CONFIRMATIONS(42)) == "42", "unnamed value")
    check(str(IoTHubTransportProvider.MQTT) == "MQTT", "transport")
    check({IoTHubTransportProvider.HTTP, IoTHubTransportProvider.AMQP} <= set(
        IoTHubTransportProvider.values.values()), "HTTP and AMQP exist")
    check(str(IoTHubClientStatus.IDLE) == "IDLE" and str(IoTHubClientStatus.BUSY) == "BUSY",
          "status")
    check(str(IoTHubMessageDispositionResult.ACCEPTED) == "ACCEPTED", "disposition")
    check(str(IoTHubRegistryManagerAuthMethod.SHARED_PRIVATE_KEY) == "SHARED_PRIVATE_KEY", "auth")
    check(str(IoTHubDeviceStatus.DISABLED) == "DISABLED", "device status")
    check(str(IoTHubDeviceConnectionState.CONNECTED) == "CONNECTED", "connection state")
    for sub in (IoTHubClientError, IoTHubMessageError, IoTHubMapError):
        check(issubclass(sub, IoTHubError) and issubclass(IoTHubError, Exception), sub)
    check(issubclass(IoTHubRegistryManagerError, iothub_service_client.IoTHubError), "service")
    check(iothub_client.__version__ == iothub_service_client.__version__, "versions")


def messages():
    m = IoTHubMessage("text body")
    check(m.get_string() == "text body" and m.get_bytearray() == bytearray(b"text body"), "str")
    check(m.get_content_type() == IoTHubMessageContent.STRING, "STRING")
    b = IoTHubMessage(bytearray(b"\x00\xffbin"))
    check(b.get_string() is None and b.get_bytearray() == bytearray(b"\x00\xffbin"), "bytes")
    check(str(b.get_content_type()) == "BYTEARRAY", "BYTEARRAY")
    check(IoTHubMessage(b"raw").get_bytearray() == bytearray(b"raw"), "bytes body")
    raises(TypeError, IoTHubMessage, 42)
    check(m.message_id is None and m.correlation_id is None, "unset ids are None")
    m.message_id, m.correlation_id = "mid", "cid"
    m.content_type, m.content_encoding = "application/json", "utf-8"
    check((m.message_id, m.correlation_id, m.content_type, m.content_encoding) ==
          ("mid", "cid", "application/json", "utf-8"), "system properties")
    check(m.get_content_type_system_property() == "application/json", "ct method")
    check(m.set_content_encoding_system_property("utf-16") == 0, "ce method")
    check(m.content_encoding == "utf-16", "ce set by method")
    m.message_id = None
    check(m.message_id is None, "clearing message_id")
    e = raises(IoTHubMessageError, setattr, m, "correlation_id", "")
    check("IoTHubMessageResult.INVALID_ARG" in str(e), str(e))
    raises(TypeError, setattr, m, "message_id", 5)

    props = m.properties()
    props.add("Property", "PropMsg_0")
    props.add_or_update("other", "1")
    props.add_or_update("other", "2")
    check(m.properties().get_internals() == {"Property": "PropMsg_0", "other": "2"}, "map view")
    check(props.get("Property") == "PropMsg_0" and props.get("none") is None, "get")
    check(props.get("none", "d") == "d", "get default")
    check(props.get_value_from_key("other") == "2", "get_value_from_key")
    check(props.contains_key("other") and not props.contains_key("x"), "contains_key")
    check(props.contains_value("2") and not props.contains_value("3"), "contains_value")
    check(len(props) == 2 and "other" in props and "x" not in props, "len and in")
    e = raises(IoTHubMapError, props.add, "other", "3")
    check(str(e).startswith("IoTHubMap.add, IoTHubMapResult.KEYEXISTS"), str(e))
    check(e.result == iothub_client.IoTHubMapResult.KEYEXISTS and e.func == "add", "attributes")
    props.delete("other")
    e = raises(IoTHubMapError, props.delete, "other")
    check("KEYNOTFOUND" in str(e), str(e))
    raises(IoTHubMapError, props.add, "$reserved", "x")
    raises(TypeError, props.add, "k", 1)
    free = IoTHubMap()
    free.add("a", "b")
    check(free.get_internals() == {"a": "b"}, "free-standing map")

    # A map keeps its message alive; dropping both frees both.
    n = sys.getrefcount(m)
    maps = [m.properties() for _ in range(10)]
    check(sys.getrefcount(m) == n + 10, "maps reference the message")
    del maps
    check(sys.getrefcount(m) == n, "maps released the message")
    del props
    view = IoTHubMessage("x").properties()
    view.add("k", "v")
    check(view.get_internals() == {"k": "v"}, "map outliving its message variable")


def registry():
    rm = IoTHubRegistryManager(HUB_CS)
    IoTHubRegistryManager(IoTHubServiceClientAuth(HUB_CS))
    raises(iothub_service_client.IoTHubServiceClientAuthError, IoTHubServiceClientAuth, "x=y")
    e = raises(IoTHubRegistryManagerError, IoTHubRegistryManager, "HostName=only")
    check("INVALID_ARG" in str(e), str(e))
    spk = IoTHubRegistryManagerAuthMethod.SHARED_PRIVATE_KEY
    dev = rm.create_device("py-api-1", key(1), key(2), spk)
    check((dev.deviceId, dev.primaryKey, dev.secondaryKey) == ("py-api-1", key(1), key(2)), "keys")
    check(dev.status == IoTHubDeviceStatus.ENABLED and str(dev.authMethod) == "SHARED_PRIVATE_KEY",
          "created device")
    check(str(dev.connectionState) == "DISCONNECTED" and dev.cloudToDeviceMessageCount == 0, "new")
    check(dev.isManaged is False and dev.statusReason is None and dev.eTag and dev.generationId,
          "other fields")
    e = raises(IoTHubRegistryManagerError, rm.create_device, "py-api-1", "", "", spk)
    check(str(e).startswith("IoTHubRegistryManager.create_device, "
                            "IoTHubRegistryManagerResult.DEVICE_EXIST"), str(e))
    check(e.result == IoTHubRegistryManagerResult.DEVICE_EXIST, "result attribute")

    rm.update_device("py-api-1", "", "", IoTHubDeviceStatus.DISABLED, spk)
    got = rm.get_device("py-api-1")
    check(got.status == IoTHubDeviceStatus.DISABLED and got.primaryKey == key(1), "disabled")
    rm.update_device("py-api-1", key(3), "", IoTHubDeviceStatus.ENABLED, spk)
    got = rm.get_device("py-api-1")
    check((str(got.status), got.primaryKey, got.secondaryKey) == ("ENABLED", key(3), key(2)),
          "key rotated")

    rm.create_device("py-api-2", "", "", spk)
    ids = sorted(d.deviceId for d in rm.get_device_list(100))
    check({"py-api-1", "py-api-2"} <= set(ids), ids)
    st = rm.get_statistics()
    check(st.totalDeviceCount == len(ids) and st.enabledDeviceCount + st.disabledDeviceCount ==
          st.totalDeviceCount, "statistics")
    rm.delete_device("py-api-2")
    e = raises(IoTHubRegistryManagerError, rm.get_device, "py-api-2")
    check("DEVICE_NOT_EXIST" in str(e), str(e))
    e = raises(IoTHubRegistryManagerError, rm.delete_device, "py-api-2")
    check("DEVICE_NOT_EXIST" in str(e), str(e))
    return f"HostName={HOST};DeviceId=py-api-1;SharedAccessKey={key(3)}"


def device_client(device_cs):
    main_thread = threading.get_ident()
    results, lock = [], threading.Lock()
    done = threading.Event()
    total = 60

    def on_confirm(message, result, context):
        with lock:
            results.append((message, result, context, threading.get_ident()))
            if len(results) == total:
                done.set()
        if context == "boom":
            raise RuntimeError("raised in a confirmation callback (expected by the test)")

    statuses = []
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    client = IoTHubClient(device_cs, IoTHubTransportProvider.MQTT)
    check(client.protocol == IoTHubTransportProvider.MQTT, "protocol")
    client.set_option("messageTimeout", 10000)
    client.set_option("logtrace", False)
    # Plug and Play: test_12 reads it back from the device's twin (modelId).
    client.set_option("model_id", "dtmi:com:example:Thermostat;1")
    client.set_connection_status_callback(lambda s, r, c: statuses.append((s, r, c)), "ctx")
    client.set_retry_policy(IoTHubClientRetryPolicy.RETRY_INTERVAL, 100)
    rp = client.get_retry_policy()
    check(str(rp.retryPolicy) == "RETRY_INTERVAL" and rp.retryTimeoutLimitInSeconds == 100, "retry")
    client.set_retry_policy(IoTHubClientRetryPolicy.RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER, 0)
    raises(TypeError, client.set_option, "messageTimeout", 1.5)
    raises(TypeError, client.send_event_async, "not a message", on_confirm, 0)
    raises(TypeError, client.send_event_async, IoTHubMessage("x"), "not callable", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.set_option("noSuchOption", 1)
        client.set_message_callback(lambda m, c: IoTHubMessageDispositionResult.ACCEPTED, None)
        client.set_device_method_callback(lambda n, p, c: DeviceMethodReturnValue(), None)
        client.set_device_twin_callback(lambda s, p, c: None, None)
    check(any("noSuchOption" in str(w.message) for w in caught), "unknown option warns")
    check(len(caught) == 1, f"only the unknown option warns: {[str(w.message) for w in caught]}")
    raises(TypeError, client.set_message_callback, "not callable", None)
    raises(TypeError, client.send_reported_state, '{"a": 1}', 8, "not callable", None)
    # Not a JSON object: refused up front (IoTHubClientResult.INVALID_ARG).
    raises(IoTHubClientError, client.send_reported_state, "[1]", 3, None, None)

    context = object()
    sent = []
    for i in range(total):
        msg = IoTHubMessage(f'{{"n": {i}}}' if i % 2 else bytearray(b"%d" % i))
        msg.message_id = f"api_{i}"
        msg.properties().add("n", str(i))
        sent.append(msg)
    base_ctx, base_cb = sys.getrefcount(context), sys.getrefcount(on_confirm)
    base_msgs = [sys.getrefcount(m) for m in sent]
    for i, msg in enumerate(sent):
        ctx = "boom" if i == 7 else (context if i == 8 else i)
        client.send_event_async(msg, on_confirm, ctx)
    sent[0].message_id = "changed after sending"  # the hub must get the copy sent
    check(str(client.get_send_status()) in ("BUSY", "IDLE"), "send status")
    check(done.wait(60), f"only {len(results)} of {total} confirmations")
    deadline = time.time() + 5
    while str(client.get_send_status()) != "IDLE" and time.time() < deadline:
        time.sleep(0.05)
    check(client.get_send_status() == IoTHubClientStatus.IDLE, "IDLE after confirmations")
    check(all(r[1] == CONFIRMATIONS.OK for r in results), [str(r[1]) for r in results])
    check(all(r[3] != main_thread for r in results), "callbacks on a library thread")
    by_ctx = {r[2] if isinstance(r[2], int) else ("ctx" if r[2] is context else r[2]): r[0]
              for r in results}
    check(by_ctx[0] is sent[0] and by_ctx["ctx"] is sent[8] and by_ctx["boom"] is sent[7],
          "the callback gets the user's own message object and context")
    check(len(unraisable) == 1 and "expected by the test" in str(unraisable[0].exc_value),
          f"exception in callback reported once: {unraisable}")
    check(any(s == IoTHubConnectionStatus.AUTHENTICATED and c == "ctx" for s, r, c in statuses),
          f"connection status callback: {statuses}")
    results.clear()
    unraisable.clear()
    del by_ctx
    gc.collect()
    check(sys.getrefcount(context) == base_ctx, "user_context references released")
    check(sys.getrefcount(on_confirm) == base_cb, "callback references released")
    check([sys.getrefcount(m) for m in sent] == base_msgs, "message references released")

    # A pending message ends with BECAUSE_DESTROY when the client goes away, before del returns.
    stuck = IoTHubClient(f"HostName=unreachable.invalid;DeviceId=x;SharedAccessKey={key(9)}",
                         IoTHubTransportProvider.MQTT)
    got = []
    stuck.send_event_async(IoTHubMessage("never sent"), lambda m, r, c: got.append(r), None)
    time.sleep(0.3)
    check(str(stuck.get_send_status()) == "BUSY", "pending message")
    del stuck
    check([str(r) for r in got] == ["BECAUSE_DESTROY"], got)

    # A timeout for a message the hub never acknowledges.
    slow = IoTHubClient(f"HostName=unreachable.invalid;DeviceId=x;SharedAccessKey={key(9)}",
                        IoTHubTransportProvider.MQTT)
    slow.set_option("messageTimeout", 500)
    timed = threading.Event()
    slow.send_event_async(IoTHubMessage("t"), lambda m, r, c: got.append(r) or timed.set(), None)
    check(timed.wait(20) and str(got[-1]) == "MESSAGE_TIMEOUT", got)
    del slow

    # Reference cycles through callback contexts are collectable.
    cyc = IoTHubClient(device_cs, IoTHubTransportProvider.MQTT)
    cyc.set_connection_status_callback(lambda s, r, c: None, cyc)
    del cyc
    gc.collect()

    # The last reference dropped inside the client's own callback: destroyed from its worker.
    holder, seen = {}, []
    three = threading.Event()

    def drop(m, r, ctx):
        seen.append(str(r))
        if ctx == 0:
            holder.clear()
        if len(seen) == 3:
            three.set()

    holder["c"] = IoTHubClient(device_cs, IoTHubTransportProvider.MQTT)
    holder["c"].set_connection_status_callback(lambda s, r, c: None, None)
    for i in range(3):
        holder["c"].send_event_async(IoTHubMessage("d"), drop, i)
    check(three.wait(20) and seen[0] == "OK" and set(seen) <= {"OK", "BECAUSE_DESTROY"}, seen)
    check(not holder, "dropped in the callback")

    # A refused key: the confirmation reports ERROR (or a timeout), never OK.
    bad = IoTHubClient(f"HostName={HOST};DeviceId=py-api-1;SharedAccessKey={key(8)}",
                       IoTHubTransportProvider.MQTT)
    bad.set_option("messageTimeout", 5000)
    refused = threading.Event()
    bad.send_event_async(IoTHubMessage("x"), lambda m, r, c: got.append(r) or refused.set(), None)
    check(refused.wait(20) and str(got[-1]) in ("ERROR", "MESSAGE_TIMEOUT"), got)
    del bad
    sys.unraisablehook = old_hook
    return client


def at_exit_client():
    """Left in a global: the atexit hook destroys it while Python still runs the callback."""
    c = IoTHubClient(f"HostName=unreachable.invalid;DeviceId=x;SharedAccessKey={key(9)}",
                     IoTHubTransportProvider.MQTT)
    c.send_event_async(IoTHubMessage("pending at exit"),
                       lambda m, r, ctx: print("atexit confirmation: %s" % r, flush=True), None)
    return c


if __name__ == "__main__":
    enums()
    messages()
    device_cs = registry()
    CLIENT = device_client(device_cs)
    LEFT = at_exit_client()
    print("API OK", flush=True)
