"""A small raw MQTT 3.1.1 client for tests, written from the OASIS standard (mqtt-v3.1.1-os).

It is independent of the hub's C codec on purpose, so the two check each other, and it can
send exact and malformed bytes: the encoders return bytes that a test may cut, corrupt or
send one at a time. Over TLS (trusting the hub's CA, server name localhost) or plain TCP.
"""
import select
import socket
import ssl
import struct
import time

# Control packet types (standard 2.2.1).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = (8, 9, 10, 11, 12,
                                                                          13, 14)
TYPE_NAMES = {CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
              PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
              SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
              PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT"}

# CONNACK return codes (standard 3.2.2.3).
ACCEPTED, BAD_PROTOCOL, ID_REJECTED, UNAVAILABLE, BAD_CREDENTIALS, NOT_AUTHORIZED = range(6)

API_VERSION = "2021-04-12"


class Closed(Exception):
    """The peer closed the connection (EOF, reset, or a TLS alert)."""


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid MQTT 3.1.1 server packet."""


# -- encoding ----------------------------------------------------------------------------------
def encode_remaining_length(n):
    """Variable byte integer, 1 to 4 bytes (standard 2.2.3)."""
    if n < 0 or n > 268_435_455:
        raise ValueError("remaining length out of range")
    out = bytearray()
    while True:
        digit, n = n % 128, n // 128
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_string(s):
    """UTF-8 string with a two-byte length prefix (standard 1.5.3). bytes are sent as given."""
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if len(b) > 65535:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("!H", len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + encode_remaining_length(len(body)) + body


def connect_packet(client_id, username=None, password=None, keepalive=60, clean_session=True,
                   protocol_name="MQTT", protocol_level=4, will=None, reserved_flag=False):
    """CONNECT (standard 3.1). will = (topic, message, qos, retain) or None."""
    flags = 0
    if clean_session:
        flags |= 0x02
    payload = encode_string(client_id)
    if will:
        topic, message, wqos, wretain = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        payload += encode_string(topic) + encode_string(message)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    if reserved_flag:
        flags |= 0x01
    body = encode_string(protocol_name) + bytes([protocol_level, flags]) + \
        struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, packet_id=None, retain=False, dup=False):
    """PUBLISH (standard 3.3). packet_id is required for QoS > 0."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = encode_string(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id)
    return packet(PUBLISH, flags, body + payload)


def subscribe_packet(packet_id, filters, flags=0x02):
    """SUBSCRIBE (standard 3.8): filters is a list of (topic filter, requested QoS)."""
    body = struct.pack("!H", packet_id)
    for topic_filter, qos in filters:
        body += encode_string(topic_filter) + bytes([qos])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe_packet(packet_id, filters):
    body = struct.pack("!H", packet_id) + b"".join(encode_string(f) for f in filters)
    return packet(UNSUBSCRIBE, 0x02, body)


def puback_packet(packet_id):
    return packet(PUBACK, 0, struct.pack("!H", packet_id))


def pingreq_packet():
    return packet(PINGREQ, 0, b"")


def disconnect_packet():
    return packet(DISCONNECT, 0, b"")


def device_username(device_id, host="localhost", suffix=None):
    """The IoT Hub user name: {host}/{deviceId}/?api-version=... (spec: CONNECT)."""
    if suffix is None:
        suffix = f"?api-version={API_VERSION}"
    return f"{host}/{device_id}/{suffix}"


# -- decoding ----------------------------------------------------------------------------------
class Packet:
    """One decoded server packet. Fields by type:
    CONNACK: session_present, return_code; PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK: packet_id;
    SUBACK: packet_id, codes; PUBLISH: topic, packet_id, qos, retain, dup, payload."""

    def __init__(self, ptype, flags, body):
        self.type, self.flags, self.body = ptype, flags, body
        self.packet_id = None
        if ptype == CONNACK:
            if flags != 0 or len(body) != 2 or body[0] & 0xFE:
                raise ProtocolError(f"malformed CONNACK: flags {flags} body {body!r}")
            self.session_present = bool(body[0] & 1)
            self.return_code = body[1]
        elif ptype in (PUBACK, PUBREC, PUBCOMP, UNSUBACK, PUBREL):
            want_flags = 2 if ptype == PUBREL else 0
            if flags != want_flags or len(body) != 2:
                raise ProtocolError(f"malformed {TYPE_NAMES[ptype]}: {flags} {body!r}")
            self.packet_id = struct.unpack("!H", body)[0]
        elif ptype == SUBACK:
            if flags != 0 or len(body) < 3:
                raise ProtocolError(f"malformed SUBACK: {flags} {body!r}")
            self.packet_id = struct.unpack("!H", body[:2])[0]
            self.codes = list(body[2:])
            for c in self.codes:
                if c not in (0, 1, 2, 0x80):
                    raise ProtocolError(f"SUBACK return code {c:#x} is not allowed")
        elif ptype in (PINGRESP,):
            if flags != 0 or body:
                raise ProtocolError(f"malformed PINGRESP: {flags} {body!r}")
        elif ptype == PUBLISH:
            self.qos = (flags >> 1) & 3
            self.retain = bool(flags & 1)
            self.dup = bool(flags & 8)
            if self.qos == 3 or len(body) < 2:
                raise ProtocolError(f"malformed PUBLISH: {flags} {body!r}")
            tlen = struct.unpack("!H", body[:2])[0]
            self.topic = body[2:2 + tlen].decode("utf-8")
            pos = 2 + tlen
            if self.qos:
                self.packet_id = struct.unpack("!H", body[pos:pos + 2])[0]
                pos += 2
            self.payload = body[pos:]
        else:
            raise ProtocolError(f"a server may not send packet type {ptype}")

    @property
    def name(self):
        return TYPE_NAMES.get(self.type, str(self.type))

    def __repr__(self):
        extra = ""
        if self.type == CONNACK:
            extra = f" sp={int(self.session_present)} rc={self.return_code}"
        elif self.packet_id is not None:
            extra = f" id={self.packet_id}"
        return f"<{self.name}{extra}>"


# -- the client --------------------------------------------------------------------------------
class Client:
    """One MQTT connection. Nothing is sent implicitly: call connect(), publish(), ..."""

    def __init__(self, host="localhost", port=8883, ca_file=None, tls=True, timeout=10,
                 certfile=None, keyfile=None, server_hostname="localhost"):
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=ca_file)
            if certfile:
                ctx.load_cert_chain(certfile, keyfile)
            try:
                self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
            except BaseException:
                raw.close()
                raise
        else:
            self.sock = raw
        self.buf = bytearray()
        self.next_id = 1
        self.eof = False

    # -- bytes ----------------------------------------------------------------------------
    def send(self, data):
        """Sends raw bytes; raises Closed if the peer has closed the connection."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError) as e:
            raise Closed(f"send failed: {e!r}") from e

    def _fill(self, deadline):
        """Reads more bytes into the buffer, by the deadline (time.monotonic()). Raises
        Closed at EOF, TimeoutError at the deadline."""
        if self.eof:
            raise Closed("EOF")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no data from the hub in time")
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    continue
            self.sock.settimeout(max(left, 0.001))
            try:
                chunk = self.sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
                self.eof = True
                raise Closed(f"recv failed: {e!r}") from e
            if not chunk:
                self.eof = True
                raise Closed("EOF")
            self.buf += chunk
            return

    def read_packet(self, timeout=None):
        """The next server packet. Raises Closed, TimeoutError or ProtocolError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 2:
                mult, length, i = 1, 0, 1
                complete_header = False
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        complete_header = True
                        break
                if not complete_header and i > 4:
                    raise ProtocolError("remaining length longer than 4 bytes")
                if complete_header and len(self.buf) >= i + length:
                    first = self.buf[0]
                    body = bytes(self.buf[i:i + length])
                    del self.buf[:i + length]
                    return Packet(first >> 4, first & 0x0F, body)
            self._fill(deadline)

    def expect(self, ptype, timeout=None):
        p = self.read_packet(timeout)
        if p.type != ptype:
            raise ProtocolError(f"expected {TYPE_NAMES[ptype]}, got {p!r}")
        return p

    def wait_closed(self, timeout=None):
        """Waits for the peer to close; returns the seconds it took. Packets that arrive
        first are returned too: (seconds, [packets]). Raises TimeoutError if still open."""
        start = time.monotonic()
        deadline = start + (self.timeout if timeout is None else timeout)
        got = []
        while True:
            try:
                got.append(self.read_packet(max(deadline - time.monotonic(), 0.0)))
            except Closed:
                return time.monotonic() - start, got
            except ProtocolError:
                # Bytes that are not a packet: keep reading until the close.
                self.buf.clear()

    def is_open(self, timeout=0.2):
        """True when the connection is still up: a PINGREQ gets its PINGRESP."""
        try:
            self.send(pingreq_packet())
            deadline = time.monotonic() + max(timeout, 0.05)
            while True:
                p = self.read_packet(max(deadline - time.monotonic(), 0.0))
                if p.type == PINGRESP:
                    return True
        except (Closed, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- MQTT -------------------------------------------------------------------------------
    def connect(self, client_id, username=None, password=None, keepalive=60,
                clean_session=True, timeout=None, **kw):
        """Sends CONNECT and returns the CONNACK packet (return_code, session_present)."""
        self.send(connect_packet(client_id, username, password, keepalive, clean_session, **kw))
        return self.expect(CONNACK, timeout)

    def new_id(self):
        pid = self.next_id
        self.next_id = pid % 65535 + 1
        return pid

    def publish(self, topic, payload=b"", qos=0, retain=False, packet_id=None):
        """Sends PUBLISH without waiting; returns the packet id (None at QoS 0)."""
        if qos and packet_id is None:
            packet_id = self.new_id()
        self.send(publish_packet(topic, payload, qos, packet_id, retain))
        return packet_id

    def publish_wait(self, topic, payload=b"", qos=1, retain=False, timeout=None):
        pid = self.publish(topic, payload, qos, retain)
        ack = self.expect(PUBACK, timeout)
        if ack.packet_id != pid:
            raise ProtocolError(f"PUBACK for {ack.packet_id}, expected {pid}")
        return pid

    def wait_pubacks(self, packet_ids, timeout=None):
        """Reads PUBACKs until every id in packet_ids (in order) was acknowledged; returns
        the acknowledged ids in the order they came."""
        want = list(packet_ids)
        got = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(got) < len(want):
            p = self.read_packet(max(deadline - time.monotonic(), 0.0))
            if p.type != PUBACK:
                raise ProtocolError(f"expected PUBACK, got {p!r}")
            got.append(p.packet_id)
        return got

    def subscribe(self, filters, timeout=None):
        """filters: [(filter, qos)]. Returns the SUBACK return codes."""
        pid = self.new_id()
        self.send(subscribe_packet(pid, filters))
        ack = self.expect(SUBACK, timeout)
        if ack.packet_id != pid:
            raise ProtocolError(f"SUBACK for {ack.packet_id}, expected {pid}")
        return ack.codes

    def ping(self, timeout=None):
        self.send(pingreq_packet())
        return self.expect(PINGRESP, timeout)

    def disconnect(self):
        try:
            self.send(disconnect_packet())
        except Closed:
            pass
        self.close()


def telemetry_topic(device_id, bag=""):
    return f"devices/{device_id}/messages/events/{bag}"


def open_device(hub, device_id, password, port=8883, tls=True, clean_session=True,
                keepalive=60, username=None, timeout=10, certfile=None, keyfile=None, **kw):
    """Connects device_id to the hub (hub.ca_file trusted; certfile and keyfile: a TLS
    client certificate). Returns (client, connack); the caller checks
    connack.return_code."""
    c = Client(port=port, ca_file=hub.ca_file, tls=tls, timeout=timeout, certfile=certfile,
               keyfile=keyfile)
    try:
        ack = c.connect(device_id, device_username(device_id) if username is None else username,
                        password, keepalive=keepalive, clean_session=clean_session, **kw)
    except BaseException:
        c.close()
        raise
    return c, ack


def split_packet(data):
    """(first byte, body) of one encoded packet: the inverse of packet()."""
    i, mult, length = 1, 1, 0
    while True:
        b = data[i]
        length += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    return data[0], bytes(data[i:i + length])
