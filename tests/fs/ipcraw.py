"""A raw libqb client for the pmxcfs IPC tests: sends arbitrary (also malformed) requests.

Uses libqb through ctypes, so requests can break every rule the C client library
enforces.  Layouts: spec §12.2 (16-byte request header, 24-byte response header).
"""
import ctypes
import ctypes.util
import os
import struct

_qb = ctypes.CDLL(ctypes.util.find_library("qb") or "libqb.so.100", use_errno=True)
_qb.qb_ipcc_connect.restype = ctypes.c_void_p
_qb.qb_ipcc_connect.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_qb.qb_ipcc_send.restype = ctypes.c_ssize_t
_qb.qb_ipcc_send.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
_qb.qb_ipcc_recv.restype = ctypes.c_ssize_t
_qb.qb_ipcc_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int32]
_qb.qb_ipcc_disconnect.restype = None
_qb.qb_ipcc_disconnect.argtypes = [ctypes.c_void_p]

PERL_BUFFER = 8192 * 128

# request ids (spec §12.4)
GET_FS_VERSION, GET_CLUSTER_INFO, GET_GUEST_LIST, SET_STATUS, GET_STATUS, GET_CONFIG, \
    LOG_CLUSTER_MSG, GET_CLUSTER_LOG = range(1, 9)
GET_RRD_DUMP, GET_GUEST_CONFIG_PROPERTY, VERIFY_TOKEN, GET_GUEST_CONFIG_PROPERTIES = range(10, 14)


class TransportError(OSError):
    pass


class Client:
    """One connection; request() returns (error, data)."""

    def __init__(self, service, buffer_size=PERL_BUFFER, timeout_ms=10000):
        self.buffer_size = buffer_size
        self.timeout_ms = timeout_ms
        self.buf = ctypes.create_string_buffer(max(buffer_size, 1 << 16))
        self.conn = _qb.qb_ipcc_connect(service.encode(), buffer_size)
        if not self.conn:
            e = ctypes.get_errno()
            raise TransportError(e, f"connect to {service}: {os.strerror(e)}")

    def close(self):
        if self.conn:
            _qb.qb_ipcc_disconnect(self.conn)
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, msg: bytes):
        n = _qb.qb_ipcc_send(self.conn, msg, len(msg))
        if n < 0:
            raise TransportError(-n, f"send: {os.strerror(-n)}")

    def recv(self):
        n = _qb.qb_ipcc_recv(self.conn, self.buf, len(self.buf), self.timeout_ms)
        if n < 0:
            raise TransportError(-n, f"recv: {os.strerror(-n)}")
        raw = ctypes.string_at(self.buf, n)
        rid, size, err = struct.unpack_from("<i4xi4xi4x", raw)
        assert size == n, f"response size field {size} != {n}"
        return rid, err, raw[24:]

    def request(self, rid, payload=b"", size_field=None):
        size = 16 + len(payload) if size_field is None else size_field
        self.send_raw(struct.pack("<i4xi4x", rid, size) + payload)
        got_id, err, data = self.recv()
        assert got_id == rid, f"response id {got_id} for request {rid}"
        return err, data


def status_key(key: bytes):
    return key.ljust(256, b"\0")[:256]


def log_payload(pri, ident: bytes, tag: bytes, msg: bytes):
    return bytes([pri, len(ident) + 1, len(tag) + 1]) + ident + b"\0" + tag + b"\0" + msg + b"\0"
