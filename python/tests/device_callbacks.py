"""A device written against the old Azure IoT Python SDK's iothub_client API (v1): it
receives cloud-to-device messages, answers direct methods and keeps its twin, and prints
one line per event, like samples/device_callbacks.c:

  C2D message_id=<id> correlation_id=<id> body=<text> properties=<k=v,...>
  METHOD name=<name> payload=<text>     answered 200 {"method":"<name>","echo":<payload>};
                                        the method disableC2D also unsets the message callback
  TWIN COMPLETE <json> / TWIN PARTIAL <json>
  REPORTED status=<code>                the hub's answer to REPORTED (sent after the first
                                        COMPLETE)

Environment: DEVICE_CS, IOTHUB_CA_FILE, REPORTED, C2D_DISPOSITION (ACCEPTED, REJECTED or
ABANDONED), WAIT_S (default 60). SIGTERM ends it early. Run with PYTHONPATH=<build>/python.
"""
import os
import signal
import sys
import threading

from iothub_client import (DeviceMethodReturnValue, IoTHubClient,
                           IoTHubMessageDispositionResult, IoTHubTransportProvider,
                           IoTHubTwinUpdateState)

CONNECTION_STRING = os.environ["DEVICE_CS"]
REPORTED = os.environ.get("REPORTED", '{"sample":"device_callbacks.py"}')
DISPOSITION = getattr(IoTHubMessageDispositionResult,
                      os.environ.get("C2D_DISPOSITION", "ACCEPTED"))
WAIT_S = float(os.environ.get("WAIT_S", "60"))

stop = threading.Event()
print_lock = threading.Lock()
reported_sent = False
client = None


def say(line):
    with print_lock:
        print(line, flush=True)


def receive_message_callback(message, user_context):
    body = bytes(message.get_bytearray()).decode("utf-8", "replace")
    props = message.properties().get_internals()
    say(f"C2D message_id={message.message_id or '-'} "
        f"correlation_id={message.correlation_id or '-'} body={body} properties="
        + ",".join(f"{k}={v}" for k, v in props.items()))
    return DISPOSITION


def device_method_callback(method_name, payload, user_context):
    say(f"METHOD name={method_name} payload={payload}")
    if method_name == "disableC2D":
        client.set_message_callback(None, None)  # unsubscribes; allowed from a callback
    ret = DeviceMethodReturnValue()
    ret.response = '{"method":"%s","echo":%s}' % (method_name, payload or "null")
    ret.status = 200
    return ret


def send_reported_state_callback(status_code, user_context):
    say(f"REPORTED status={status_code}")


def device_twin_callback(update_state, payload, user_context):
    global reported_sent
    name = "COMPLETE" if update_state == IoTHubTwinUpdateState.COMPLETE else "PARTIAL"
    say(f"TWIN {name} {payload}")
    if update_state == IoTHubTwinUpdateState.COMPLETE and not reported_sent:
        reported_sent = True
        client.send_reported_state(REPORTED, len(REPORTED), send_reported_state_callback, 0)


def main():
    global client
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = IoTHubClient(CONNECTION_STRING, IoTHubTransportProvider.MQTT)
    client.set_message_callback(receive_message_callback, 0)
    client.set_device_method_callback(device_method_callback, 0)
    client.set_device_twin_callback(device_twin_callback, 0)
    stop.wait(WAIT_S)
    say("DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
