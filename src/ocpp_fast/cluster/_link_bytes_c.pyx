# cython: language_level=3
"""The bytes of the gateway's NATS link in C: the compiled twin of
:mod:`ocpp_fast.cluster._link_bytes_py` (same functions and class, same bytes, same calls in
the same order; its docstrings say what each does and why). Each frame built is one
allocation, its parts copied in; the one step that is not plain copying, a message id
that JSON must escape, is msgspec's (as in the twin). The reader parses a message's line
and completes a plain reply's future in C; a line it does not read as the common case
(an unusual field count or number) is read as the twin reads it, with Python's own
``split`` and ``int``. A store's ``Stores.start`` runs in C from the station's payload to
the publish handed to the C ``Writer`` (the dedup id by the BLAKE2b of RFC 7693 below,
written from its description), and ``Stores.check`` takes the stream's usual ack by a look
at its bytes (any other is decoded, as the twin decodes every ack).
"""

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memcpy, memset
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

import asyncio

import msgspec

from ocpp_fast.cluster._link_bytes_py import (
    DEFAULT_MAX_PAYLOAD,
    GATHER_AT_MOST,
    GATHER_UP_TO,
    INBOX_SID,
    WRITE_AT_ONCE_BELOW,
    MAX_CONTROL_LINE,
    MSG_ID_HEAD,
    dedup_heads,
    event_head,
    token_of,
)

cdef extern from "<time.h>":
    ctypedef long time_t
    struct tm:
        int tm_sec
        int tm_min
        int tm_hour
        int tm_mday
        int tm_mon
        int tm_year
    tm* gmtime_r(const time_t* timer, tm* result)

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)
    const char* PyUnicode_DATA(object)
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

__all__ = [
    "MSG_ID_HEAD",
    "Ack",
    "Reader",
    "Stores",
    "Writer",
    "blake2b16",
    "dedup_heads",
    "dedup_key",
    "event_body",
    "event_head",
    "hpub",
    "pub",
    "stamp",
    "token_of",
]

cdef Py_ssize_t _MAX_LINE = MAX_CONTROL_LINE
cdef bytes _INBOX = INBOX_SID

_encode = msgspec.json.Encoder().encode

cdef bytes _RECEIVED = b',"received_at":"'
cdef bytes _PAYLOAD = b'Z","payload":'
cdef long long _second = -1
cdef char _date[32]
"""``YYYY-MM-DDTHH:MM:SS`` of ``_second`` (19 bytes)."""


cdef int _date_of(long long second) except -1:
    """Format ``_date`` for ``second`` since the epoch, UTC (once a second)."""
    global _second
    cdef time_t t = <time_t>second
    cdef tm parts
    if gmtime_r(&t, &parts) == NULL:
        raise OverflowError("time out of range")
    snprintf(_date, sizeof(_date), "%04d-%02d-%02dT%02d:%02d:%02d",
             parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
             parts.tm_hour, parts.tm_min, parts.tm_sec)
    _second = second
    return 0


cdef inline char* _put(char* at, const char* part, Py_ssize_t size):
    memcpy(at, part, size)
    return at + size


cdef inline char* _micros(char* at, long long micros):
    cdef int i
    for i in range(5, -1, -1):
        at[i] = <char>(48 + micros % 10)
        micros //= 10
    return at + 6


cdef inline int _digits(Py_ssize_t n):
    cdef int count = 1
    while n >= 10:
        n //= 10
        count += 1
    return count


cdef inline char* _number(char* at, Py_ssize_t n):
    cdef int size = _digits(n)
    cdef int i
    for i in range(size - 1, -1, -1):
        at[i] = <char>(48 + n % 10)
        n //= 10
    return at + size


cdef inline bint _plain_ascii(str text):
    """Whether JSON writes ``text`` as it is between quotes (ASCII, no escape)."""
    if not PyUnicode_IS_COMPACT_ASCII(text):
        return False
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(text)
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(PyUnicode_GET_LENGTH(text)):
        c = p[i]
        if c < 0x20 or c == 0x22 or c == 0x5C or c == 0x7F:
            return False
    return True


cdef void _split(object nanos, long long* second, long long* micros) except *:
    cdef long long n = nanos
    cdef long long s = n // 1000000000
    cdef long long rest = n % 1000000000
    if rest < 0:  # floor, as Python's divmod
        rest += 1000000000
        s -= 1
    second[0] = s
    micros[0] = rest // 1000


def stamp(nanos):
    cdef long long second = 0, micros = 0
    _split(nanos, &second, &micros)
    if second != _second:
        _date_of(second)
    out = PyBytes_FromStringAndSize(NULL, 16 + 19 + 1 + 6 + 13)
    cdef char* at = PyBytes_AS_STRING(out)
    at = _put(at, PyBytes_AS_STRING(_RECEIVED), 16)
    at = _put(at, _date, 19)
    at[0] = 46  # "."
    at = _micros(at + 1, micros)
    _put(at, PyBytes_AS_STRING(_PAYLOAD), 13)
    return out


def event_body(bytes head, str message_id, nanos, bytes payload):
    cdef long long second = 0, micros = 0
    _split(nanos, &second, &micros)
    return _event_body(head, message_id, second, micros, payload)


cdef bytes _event_body(bytes head, str message_id, long long second, long long micros,
                       bytes payload):
    if second != _second:
        _date_of(second)
    cdef bytes quoted = None
    cdef const char* id_text
    cdef Py_ssize_t id_size
    if _plain_ascii(message_id):
        id_text = PyUnicode_DATA(message_id)
        id_size = PyUnicode_GET_LENGTH(message_id) + 2
    else:
        quoted = _encode(message_id)
        id_text = PyBytes_AS_STRING(quoted)
        id_size = PyBytes_GET_SIZE(quoted)
    cdef Py_ssize_t head_size = PyBytes_GET_SIZE(head)
    cdef Py_ssize_t payload_size = PyBytes_GET_SIZE(payload)
    out = PyBytes_FromStringAndSize(NULL, head_size + id_size + 55 + payload_size + 1)
    cdef char* at = _put(PyBytes_AS_STRING(out), PyBytes_AS_STRING(head), head_size)
    if quoted is None:
        at[0] = 34  # the quotes around a message id written as it is
        at = _put(at + 1, id_text, id_size - 2)
        at[0] = 34
        at += 1
    else:
        at = _put(at, id_text, id_size)
    at = _put(at, PyBytes_AS_STRING(_RECEIVED), 16)
    at = _put(at, _date, 19)
    at[0] = 46  # "."
    at = _micros(at + 1, micros)
    at = _put(at, PyBytes_AS_STRING(_PAYLOAD), 13)
    at = _put(at, PyBytes_AS_STRING(payload), payload_size)
    at[0] = 125  # "}"
    return out


def hpub(bytes subject, bytes prefix, token, bytes head, bytes data):
    cdef Py_ssize_t n = token
    if n < 0:
        raise ValueError("a request number is 0 or more")
    return _hpub(subject, prefix, n, head, data)


cdef bytes _hpub(bytes subject, bytes prefix, Py_ssize_t n, bytes head, bytes data):
    cdef Py_ssize_t s = PyBytes_GET_SIZE(subject), r = PyBytes_GET_SIZE(prefix)
    cdef Py_ssize_t h = PyBytes_GET_SIZE(head), d = PyBytes_GET_SIZE(data)
    out = PyBytes_FromStringAndSize(
        NULL, 5 + s + 1 + r + _digits(n) + 1 + _digits(h) + 1 + _digits(h + d) + 2 + h + d + 2
    )
    cdef char* at = _put(PyBytes_AS_STRING(out), "HPUB ", 5)
    at = _put(at, PyBytes_AS_STRING(subject), s)
    at[0] = 32
    at = _put(at + 1, PyBytes_AS_STRING(prefix), r)
    at = _number(at, n)
    at[0] = 32
    at = _number(at + 1, h)
    at[0] = 32
    at = _number(at + 1, h + d)
    at = _put(at, "\r\n", 2)
    at = _put(at, PyBytes_AS_STRING(head), h)
    at = _put(at, PyBytes_AS_STRING(data), d)
    _put(at, "\r\n", 2)
    return out


def pub(bytes subject, bytes prefix, token, bytes data):
    cdef Py_ssize_t s = PyBytes_GET_SIZE(subject), r = PyBytes_GET_SIZE(prefix)
    cdef Py_ssize_t d = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t n = token
    if n < 0:
        raise ValueError("a request number is 0 or more")
    out = PyBytes_FromStringAndSize(NULL, 4 + s + 1 + r + _digits(n) + 1 + _digits(d) + 2 + d + 2)
    cdef char* at = _put(PyBytes_AS_STRING(out), "PUB ", 4)
    at = _put(at, PyBytes_AS_STRING(subject), s)
    at[0] = 32
    at = _put(at + 1, PyBytes_AS_STRING(prefix), r)
    at = _number(at, n)
    at[0] = 32
    at = _number(at + 1, d)
    at = _put(at, "\r\n", 2)
    at = _put(at, PyBytes_AS_STRING(data), d)
    _put(at, "\r\n", 2)
    return out


cdef inline bint _space(char c):
    """ASCII whitespace, as ``bytes.split()`` splits on."""
    return c == 32 or (9 <= c <= 13)


cdef long long _count(const char* p, Py_ssize_t size):
    """The number spelt by ``size`` ASCII digits (1 to 18 of them), or -1."""
    if size < 1 or size > 18:
        return -1
    cdef long long n = 0
    cdef Py_ssize_t i
    for i in range(size):
        if p[i] < 48 or p[i] > 57:
            return -1
        n = n * 10 + (p[i] - 48)
    return n


cdef class Reader:
    cdef public object wire
    cdef public object link
    cdef public dict waiting
    cdef public bytes prefix
    cdef public object reply_type
    cdef public Py_ssize_t max_payload
    cdef bytearray _buf
    cdef Py_ssize_t _need
    cdef bytes _subject
    cdef bytes _sid
    cdef bytes _reply
    cdef Py_ssize_t _head_len

    def __init__(self, wire, dict waiting, bytes prefix, reply_type):
        self.wire = wire
        self.link = wire.link
        self.waiting = waiting
        self.prefix = prefix
        self.reply_type = reply_type
        self.max_payload = DEFAULT_MAX_PAYLOAD
        self._buf = bytearray()
        self._need = 0
        self._subject = b""
        self._sid = b""
        self._reply = b""
        self._head_len = -1

    @property
    def buffered(self):
        return PyByteArray_GET_SIZE(self._buf)

    def reset(self):
        self._buf = bytearray()
        self._need = 0

    def feed(self, data):
        cdef bytearray buf = self._buf
        cdef Py_ssize_t pos
        if PyByteArray_GET_SIZE(buf) == 0 and type(data) is bytes:
            # nothing held: read ``data`` where it is, and hold only what is left of it (a
            # read is mostly whole messages: no copy into the buffer and out of it)
            pos = self._read(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), buf)
            if pos < 0:
                if self._buf is buf:  # dropped, not reset: held as a buffered read leaves it
                    buf += data
            elif pos < PyBytes_GET_SIZE(data):
                buf += (<bytes>data)[pos:]
            return None
        buf += data
        pos = self._read(PyByteArray_AS_STRING(buf), PyByteArray_GET_SIZE(buf), buf)
        if pos > 0:
            del buf[:pos]
        return None

    cdef Py_ssize_t _read(self, const char* p, Py_ssize_t end, bytearray buf) except -2:
        """Act on what is complete in ``p[:end]`` (``buf``'s bytes, or those of a read while
        ``buf`` holds none: neither changes meanwhile); how much was read, or -1 when the
        connection is being dropped (``buf`` was replaced: :meth:`reset`)."""
        cdef Py_ssize_t pos = 0, need, stop, eol, head_len
        while pos < end:
            need = self._need
            if need:
                stop = pos + need
                if stop > end:
                    break
                if p[stop - 2] != 13 or p[stop - 1] != 10:
                    self.wire._protocol_error("a message not ended by CRLF")
                    return -1
                payload = PyBytes_FromStringAndSize(p + pos, stop - 2 - pos)
                head_len = self._head_len
                self._need = 0
                pos = stop
                if self._sid != _INBOX:
                    self.link._delivered(
                        self._sid, payload[head_len:] if head_len > 0 else payload, self._reply
                    )
                elif head_len < 0:
                    self._replied(self._subject, payload)
                else:
                    self.link._replied(self._subject, payload[head_len:], payload[:head_len])
                if self._buf is not buf:  # reset meanwhile
                    return -1
                continue
            eol = _crlf(p, pos, end)
            if eol < 0:
                if end - pos > _MAX_LINE:
                    self.wire._protocol_error("a protocol line too long")
                    return -1
                break
            line = PyBytes_FromStringAndSize(p + pos, eol - pos)
            pos = eol + 2
            if not self._line(line) or self._buf is not buf:
                return -1
        return pos

    cdef void _replied(self, bytes subject, bytes data) except *:
        cdef Py_ssize_t size = PyBytes_GET_SIZE(subject), start = PyBytes_GET_SIZE(self.prefix)
        cdef const char* p = PyBytes_AS_STRING(subject)
        cdef long long token = -1
        if size >= start and memcmp(p, PyBytes_AS_STRING(self.prefix), start) == 0:
            token = _count(p + start, size - start)
        reply_to = self.waiting.pop(token, None)
        if reply_to is None:
            return
        if type(reply_to) is Ack:  # a store's: its bytes, completed in C
            if (<Ack>reply_to)._state == _PENDING:
                (<Ack>reply_to)._complete(_RESULT, data)
        elif not reply_to.done():
            reply_to.set_result(self.reply_type(data))

    cdef bint _line(self, bytes line) except -1:
        cdef const char* p = PyBytes_AS_STRING(line)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(line), op_end = 0
        while op_end < size and p[op_end] != 32:
            op_end += 1
        cdef bint headed
        if op_end == 3 and (p[0] | 32) == 109 and (p[1] | 32) == 115 and (p[2] | 32) == 103:
            headed = False  # msg, any case
        elif (op_end == 4 and (p[0] | 32) == 104 and (p[1] | 32) == 109
                and (p[2] | 32) == 115 and (p[3] | 32) == 103):
            headed = True  # hmsg
        else:
            op = line[:op_end].upper()
            rest = line[op_end + 1:] if op_end < size else b""
            return self.wire._control(op, rest, line)
        # the fields after the operation: subject, sid, [reply], [head size], size
        cdef Py_ssize_t starts[5]
        cdef Py_ssize_t ends[5]
        cdef int count = 0
        cdef Py_ssize_t i = op_end + 1
        while i < size:
            if _space(p[i]):
                i += 1
                continue
            if count == 5:
                return self._line_as_twin(line, op_end, headed)
            starts[count] = i
            while i < size and not _space(p[i]):
                i += 1
            ends[count] = i
            count += 1
        if count < (4 if headed else 3):
            return self._line_as_twin(line, op_end, headed)
        cdef long long total = _count(p + starts[count - 1], ends[count - 1] - starts[count - 1])
        cdef long long head_len = -1
        if headed:
            head_len = _count(p + starts[count - 2], ends[count - 2] - starts[count - 2])
        if total < 0 or (headed and head_len < 0):
            return self._line_as_twin(line, op_end, headed)
        if total > self.max_payload or head_len > total:
            self.wire._protocol_error(f"a message of {total} bytes")
            return False
        self._subject = PyBytes_FromStringAndSize(p + starts[0], ends[0] - starts[0])
        self._sid = PyBytes_FromStringAndSize(p + starts[1], ends[1] - starts[1])
        self._head_len = head_len
        if count == (5 if headed else 4):
            self._reply = PyBytes_FromStringAndSize(p + starts[2], ends[2] - starts[2])
        else:
            self._reply = b""
        self._need = total + 2
        return True

    @cython.wraparound(True)
    @cython.boundscheck(True)
    cdef bint _line_as_twin(self, bytes line, Py_ssize_t op_end, bint headed) except -1:
        """A message's line the common case does not cover, read as the twin reads it."""
        rest = line[op_end + 1:] if op_end < len(line) else b""
        try:
            parts = rest.split()
            total = int(parts[-1])
            head_len = int(parts[-2]) if headed else -1
            bad_head = head_len > total or (headed and head_len < 0)
            if total > self.max_payload or bad_head:
                self.wire._protocol_error(f"a message of {total} bytes")
                return False
            self._subject, self._sid, self._head_len = parts[0], parts[1], head_len
        except (ValueError, IndexError):
            self.wire._protocol_error(f"a malformed line {line[:40]!r}")
            return False
        with_reply = len(parts) == (4 if head_len < 0 else 5)
        self._reply = parts[2] if with_reply else b""
        self._need = total + 2
        return True


cdef Py_ssize_t _crlf(const char* p, Py_ssize_t start, Py_ssize_t end):
    """Where the first CRLF at or after ``start`` begins, or -1."""
    cdef Py_ssize_t i
    for i in range(start, end - 1):
        if p[i] == 13 and p[i + 1] == 10:
            return i
    return -1


cdef object _CancelledError = asyncio.CancelledError
cdef object _InvalidStateError = asyncio.InvalidStateError
cdef int _PENDING = 0
cdef int _RESULT = 1
cdef int _ERROR = 2
cdef int _CANCELLED = 3


cdef class Ack:
    """The twin's ``Ack`` (a ``Deferred`` whose callbacks cannot break the reader), in C: its
    methods are what a future's are, C calls (the twin's are Python, which is why a Python
    ``Deferred`` did not pay here: see the performance page)."""

    cdef object _loop
    cdef int _state
    cdef object _value
    cdef list _callbacks

    def __init__(self, loop):
        self._loop = loop
        self._state = _PENDING
        self._value = None
        self._callbacks = None

    def done(self):
        return self._state != _PENDING

    def cancelled(self):
        return self._state == _CANCELLED

    def result(self):
        if self._state == _RESULT:
            return self._value
        if self._state == _ERROR:
            raise self._value
        if self._state == _CANCELLED:
            raise _CancelledError
        raise _InvalidStateError("the result is not there yet")

    def exception(self):
        if self._state == _ERROR:
            return self._value
        self.result()
        return None

    def add_done_callback(self, callback):
        if self._state != _PENDING:
            self._loop.call_soon(callback, self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def set_result(self, value):
        self._complete(_RESULT, value)

    def set_exception(self, error):
        self._complete(_ERROR, error)

    def cancel(self):
        if self._state != _PENDING:
            return False
        self._complete(_CANCELLED, None)
        return True

    cdef void _complete(self, int state, object value) except *:
        if self._state == _CANCELLED:
            return
        if self._state != _PENDING:
            raise _InvalidStateError("already done")
        self._state = state
        self._value = value
        callbacks = self._callbacks
        self._callbacks = None
        if callbacks is not None:
            for callback in callbacks:
                try:
                    callback(self)
                except Exception as exc:
                    self._loop.call_exception_handler(
                        {"message": "a store's ack callback failed", "exception": exc}
                    )

    def __await__(self):
        future = self._loop.create_future()
        if self._state == _PENDING:
            self.add_done_callback(lambda done: _pass_on(done, future))
        else:
            _pass_on(self, future)
        return future.__await__()


from ocpp_fast._deferred import pass_on as _pass_on


# --- BLAKE2b (RFC 7693), for the dedup id of a store ------------------------------------------

ctypedef unsigned long long u64

cdef u64 _IV[8]
_IV[:] = [
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
]

cdef extern from *:
    """
    /* RFC 7693's twelve rounds of F on the work vector v (16 words) with the message block
       m (16 words), written out as C macros: each round's schedule (sigma) is then a
       constant the compiler folds into the loads (a loop over the rounds, or a function per
       round, read sigma at run time: 2,100 instructions a block against 1,640 here). */
    #define OCPP_B2_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
    #define OCPP_B2_G(a, b, c, d, x, y) do { \
        v[a] = v[a] + v[b] + (x); v[d] = OCPP_B2_ROTR(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];       v[b] = OCPP_B2_ROTR(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y); v[d] = OCPP_B2_ROTR(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];       v[b] = OCPP_B2_ROTR(v[b] ^ v[c], 63); \
    } while (0)
    #define OCPP_B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
        do { \
            OCPP_B2_G(0, 4, 8, 12, m[s0], m[s1]); \
            OCPP_B2_G(1, 5, 9, 13, m[s2], m[s3]); \
            OCPP_B2_G(2, 6, 10, 14, m[s4], m[s5]); \
            OCPP_B2_G(3, 7, 11, 15, m[s6], m[s7]); \
            OCPP_B2_G(0, 5, 10, 15, m[s8], m[s9]); \
            OCPP_B2_G(1, 6, 11, 12, m[s10], m[s11]); \
            OCPP_B2_G(2, 7, 8, 13, m[s12], m[s13]); \
            OCPP_B2_G(3, 4, 9, 14, m[s14], m[s15]); \
        } while (0)
    static void ocpp_fast_blake2b_rounds(unsigned long long *v, const unsigned long long *m) {
        OCPP_B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
        OCPP_B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
        OCPP_B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
        OCPP_B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
        OCPP_B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
        OCPP_B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
        OCPP_B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
        OCPP_B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
        OCPP_B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
        OCPP_B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
    }
    """
    void _rounds "ocpp_fast_blake2b_rounds"(u64* v, const u64* m) noexcept nogil

cdef u64 _ONE = 1
cdef bint _LITTLE_ENDIAN = (<unsigned char*>&_ONE)[0] == 1
"""The machine's words are little-endian, as BLAKE2b reads a block's: copied as they are."""

ctypedef struct _Blake:
    u64 h[8]
    u64 t  # bytes hashed so far (the counter's high word stays 0: keys are short)
    unsigned char block[128]
    Py_ssize_t fill  # bytes in block, not hashed yet (a full block waits: it may be the last)


cdef void _compress(_Blake* s, bint last) noexcept nogil:
    """RFC 7693's F: ``s.block`` into ``s.h``, the counter ``s.t``."""
    cdef u64 v[16]
    cdef u64 m[16]
    cdef int i, j
    if _LITTLE_ENDIAN:
        memcpy(m, s.block, 128)
    else:
        for i in range(16):
            m[i] = 0
            for j in range(8):  # little-endian words, whatever the machine
                m[i] |= (<u64>s.block[8 * i + j]) << (8 * j)
    for i in range(8):
        v[i] = s.h[i]
        v[i + 8] = _IV[i]
    v[12] ^= s.t
    if last:
        v[14] = ~v[14]
    _rounds(v, m)
    for i in range(8):
        s.h[i] ^= v[i] ^ v[i + 8]


cdef inline void _blake_start(_Blake* s) noexcept nogil:
    """A 16-byte digest, no key."""
    cdef int i
    for i in range(8):
        s.h[i] = _IV[i]
    s.h[0] ^= 0x01010000 ^ 16
    s.t = 0
    s.fill = 0


cdef void _blake_add(_Blake* s, const char* data, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t take
    while size > 0:
        if s.fill == 128:  # more comes: the block held is not the last
            s.t += 128
            _compress(s, False)
            s.fill = 0
        take = 128 - s.fill
        if take > size:
            take = size
        memcpy(s.block + s.fill, data, take)
        s.fill += take
        data += take
        size -= take


cdef const char* _HEX = "0123456789abcdef"


cdef void _blake_hex(_Blake* s, char* out) noexcept nogil:
    """The last block hashed, the digest's 16 bytes written as 32 hex digits at ``out``."""
    cdef int i
    cdef unsigned char byte
    s.t += s.fill
    memset(s.block + s.fill, 0, 128 - s.fill)
    _compress(s, True)
    for i in range(16):
        byte = <unsigned char>(s.h[i >> 3] >> (8 * (i & 7)))
        out[2 * i] = _HEX[byte >> 4]
        out[2 * i + 1] = _HEX[byte & 15]


def blake2b16(bytes data):
    cdef _Blake s
    _blake_start(&s)
    _blake_add(&s, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    out = PyBytes_FromStringAndSize(NULL, 32)
    _blake_hex(&s, PyBytes_AS_STRING(out))
    return out.decode("ascii")


cdef inline void _blake_bytes(_Blake* s, bytes data) noexcept:
    _blake_add(s, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef str _TRANSACTION_EVENT = "TransactionEvent"


cdef int _dedup(_Blake* s, tuple heads, str action, object request, object payload) except -1:
    """The twin's ``dedup_key``, hashed into ``s`` (its digest not taken)."""
    cdef Py_ssize_t size = 0
    cdef const char* text
    cdef char digits[24]
    cdef long long n
    cdef int count
    if action is _TRANSACTION_EVENT or action == _TRANSACTION_EVENT:
        info = getattr(request, "transaction_info", None)
        seq_no = getattr(request, "seq_no", None)
        if info is not None and seq_no is not None:
            _blake_bytes(s, <bytes?>heads[0])
            transaction_id = info.transaction_id
            if type(transaction_id) is str:
                text = PyUnicode_AsUTF8AndSize(transaction_id, &size)
                _blake_add(s, text, size)
            else:
                _blake_bytes(s, transaction_id.encode())
            _blake_add(s, "\0", 1)
            if type(seq_no) is int and -(1 << 62) < seq_no < (1 << 62):
                n = seq_no
                count = 0
                if n < 0:
                    digits[0] = 45  # "-"
                    count = 1
                    n = -n
                count += _digits(<Py_ssize_t>n)
                _number(digits + count - _digits(<Py_ssize_t>n), <Py_ssize_t>n)
                _blake_add(s, digits, count)
            else:
                _blake_bytes(s, b"%d" % (seq_no,))
            return 0
    _blake_bytes(s, <bytes?>heads[1])
    _blake_bytes(s, <bytes?>payload)
    return 0


def dedup_key(tuple heads, str action, request, payload):
    cdef _Blake s
    _blake_start(&s)
    _dedup(&s, heads, action, request, payload)
    out = PyBytes_FromStringAndSize(NULL, 32)
    _blake_hex(&s, PyBytes_AS_STRING(out))
    return out.decode("ascii")


cdef inline Py_ssize_t _skip(const char* p, Py_ssize_t at, Py_ssize_t end, const char* word,
                            Py_ssize_t size):
    """Where ``word`` ends if it is at ``at``, else -1."""
    if end - at < size or memcmp(p + at, word, size) != 0:
        return -1
    return at + size


cdef bint _plainly_stored(bytes data):
    """Whether ``data`` is JetStream's ack of a store in its usual shape, which the ack's
    decoder would take (a stream named, no error): ``{"stream":"<name>","seq":<n>}``, maybe
    ``,"duplicate":true`` before the brace; the name printable ASCII without an escape, the
    number JSON's (no leading zero), at most 18 digits. Anything else is decoded, as the
    twin decodes every ack (the same outcome: a look at these few bytes is a tenth of a
    decode's instructions)."""
    cdef const char* p = PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data), at, start
    at = _skip(p, 0, end, b'{"stream":"', 11)
    if at < 0:
        return False
    start = at
    while at < end and p[at] != 34:  # the closing quote
        if p[at] < 32 or p[at] > 126 or p[at] == 92:
            return False
        at += 1
    if at == start:
        return False
    at = _skip(p, at, end, b'","seq":', 8)
    if at < 0 or at >= end:
        return False
    start = at
    while at < end and 48 <= p[at] <= 57:
        at += 1
    if at == start or at - start > 18 or (p[start] == 48 and at - start > 1):
        return False
    if at == end - 1 and p[at] == 125:
        return True
    return _skip(p, at, end, b',"duplicate":true}', 18) == end


cdef bytes _MSG_ID_HEAD = MSG_ID_HEAD
cdef Py_ssize_t _MSG_ID_SIZE = len(MSG_ID_HEAD)


cdef class Stores:
    """The twin's ``Stores`` in C: one C call per store, no Python frame (the relay's Python
    per store and per ack check were a third of a durable CALL's instructions)."""

    cdef public object relay
    cdef public Py_ssize_t count
    cdef public double timeout
    cdef public Py_ssize_t bound
    cdef object _names
    cdef object _node
    cdef object _decode
    cdef dict _kept
    cdef object _loop
    cdef object _link
    cdef dict _waiting
    cdef dict _deadlines
    cdef object _tokens
    cdef bytes _prefix
    cdef object _link_loop

    def __init__(self, relay, ack_decoder, Py_ssize_t bound=65536):
        self.relay = relay
        self.count = 0
        self.timeout = relay.store_timeout
        self.bound = bound
        self._names = relay.names
        self._node = relay.node
        self._decode = ack_decoder.decode
        self._kept = {}
        self._loop = None
        self._link = None
        self._waiting = {}
        self._deadlines = {}
        self._tokens = None
        self._prefix = b""
        self._link_loop = None

    @property
    def stations(self):
        return len(self._kept)

    def attach(self, link):
        self._link = link
        if link is not None:
            self._waiting = link._waiting
            self._deadlines = link._deadlines
            self._tokens = link._tokens
            self._prefix = link._prefix
            self._link_loop = link._loop

    cdef tuple _made(self, str identity, str action, str label):
        cdef dict kept = self._kept
        actions = kept.get(identity)
        if actions is None:
            if len(kept) >= self.bound:
                kept.clear()
            actions = kept[identity] = {}
        subject = self._names.event(identity, action)
        made = (
            label,
            subject,
            subject.encode(),
            event_head(identity, action, label, self._node),
            dedup_heads(identity, action),
        )
        (<dict?>actions)[action] = made
        return made

    def start(self, version, str action, request, payload, context):
        loop = self._loop
        if loop is None or not loop.is_running():
            self._loop = self.relay._attached_loop()
        identity = context.identity
        label = version.label
        self.count += 1
        cdef _Blake s
        cdef timespec now
        cdef tuple made
        cdef bytes head
        cdef char* at
        try:
            actions = self._kept.get(identity)
            found = None if actions is None else (<dict?>actions).get(action)
            if found is None or (<tuple>found)[0] != label:
                made = self._made(identity, action, label)
            else:
                made = <tuple>found
            _blake_start(&s)
            _dedup(&s, <tuple>made[4], action, request, payload)
            head = PyBytes_FromStringAndSize(NULL, _MSG_ID_SIZE + 32 + 4)
            at = _put(PyBytes_AS_STRING(head), PyBytes_AS_STRING(_MSG_ID_HEAD), _MSG_ID_SIZE)
            _blake_hex(&s, at)
            _put(at + 32, "\r\n\r\n", 4)
            clock_gettime(CLOCK_REALTIME, &now)
            body = _event_body(made[3], context.message_id, now.tv_sec, now.tv_nsec // 1000,
                               payload)
            if self._link is None:
                return self.relay.replies.request(
                    made[1], body, self.timeout,
                    {"Nats-Msg-Id": head[_MSG_ID_SIZE:_MSG_ID_SIZE + 32].decode("ascii")},
                    gather=True,
                )
            return self._request(<bytes>made[2], body, head)
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None

    cdef Ack _request(self, bytes subject, bytes body, bytes head):
        link = self._link
        wire = link._wire
        if wire is None:
            raise ConnectionError(f"{link.name}: not connected to NATS")
        token = next(self._tokens)
        loop = self._link_loop
        cdef Ack ack = Ack.__new__(Ack)  # Ack(loop) without a Python call: pending, no callbacks
        ack._loop = loop
        self._waiting[token] = ack
        cdef double timeout = self.timeout
        due = self._deadlines.get(timeout)
        if due is not None and link._sweeper is not None:
            due.append((loop.time() + timeout, token))
        else:
            link._expire_later(loop, timeout, token)
        writer = wire.writer
        data = _hpub(subject, self._prefix, token, head, body)
        if type(writer) is Writer:
            (<Writer>writer)._send(data, True)
        else:
            writer.send(data, True)
        return ack

    def check(self, ack, action, context):
        try:
            if type(ack) is Ack and (<Ack>ack)._state == _RESULT:
                reply = (<Ack>ack)._value
                if type(reply) is bytes and _plainly_stored(<bytes>reply):
                    return
            else:
                reply = ack.result()
            stored = self._decode(reply if type(reply) is bytes else reply.data)
            if stored.error is not None or not stored.stream:
                self.relay._refused(reply)
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None


cdef Py_ssize_t _GATHER_UP_TO = GATHER_UP_TO
cdef Py_ssize_t _GATHER_AT_MOST = GATHER_AT_MOST
cdef Py_ssize_t _AT_ONCE_BELOW = WRITE_AT_ONCE_BELOW


cdef class Writer:
    """The twin's ``Writer`` in C: a store's publish is a C call from :class:`Stores`."""

    cdef public object link
    cdef public object loop
    cdef public double window
    cdef public object transport
    cdef dict _waiting
    cdef list _out
    cdef Py_ssize_t _out_bytes
    cdef bint _windowed
    cdef object _flusher

    def __init__(self, link, loop, dict waiting, double window):
        self.link = link
        self.loop = loop
        self.window = window
        self.transport = None
        self._waiting = waiting
        self._out = []
        self._out_bytes = 0
        self._windowed = False
        self._flusher = None

    @property
    def held(self):
        return len(self._out)

    def send(self, bytes data, bint gather=False):
        self._send(data, gather)

    cdef int _send(self, bytes data, bint gather) except -1:
        cdef list out = self._out
        if len(out):
            out.append(data)
            self._out_bytes += PyBytes_GET_SIZE(data)
            if self._out_bytes >= _GATHER_UP_TO or (
                self._windowed and (not gather or len(out) >= _GATHER_AT_MOST)
            ):
                self.flush()
            return 0
        if self.window > 0 and gather:
            out.append(data)
            self._out_bytes = PyBytes_GET_SIZE(data)
            self._windowed = True
            self._flusher = self.loop.call_later(self.window, self.flush)
            return 0
        if len(self._waiting) < _AT_ONCE_BELOW:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)
            return 0
        out.append(data)
        self._out_bytes = PyBytes_GET_SIZE(data)
        self._flusher = self.loop.call_soon(self.flush)
        return 0

    def flush(self):
        if self._flusher is not None:
            self._flusher.cancel()  # a no-op when it is the one running
            self._flusher = None
        cdef list out = self._out
        self._out = []
        self._out_bytes = 0
        if self._windowed:
            self.link.window_writes += 1
        self._windowed = False
        transport = self.transport
        if len(out) and transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def stop(self):
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
