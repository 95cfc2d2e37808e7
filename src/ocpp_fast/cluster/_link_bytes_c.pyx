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
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy, memset
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from ocpp_fast._dispatch_c cimport Gated, GateStart, _get, _get_or_none, _slot_offset

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
assert len(_INBOX) == 1
cdef char _INBOX_DIGIT = _INBOX[0]

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
    _stamp_into(PyBytes_AS_STRING(out), micros)
    return out


cdef inline char* _stamp_into(char* at, long long micros):
    """``stamp``'s 55 bytes at ``at`` (``_date`` already made for their second)."""
    at = _put(at, PyBytes_AS_STRING(_RECEIVED), 16)
    at = _put(at, _date, 19)
    at[0] = 46  # "."
    at = _micros(at + 1, micros)
    return _put(at, PyBytes_AS_STRING(_PAYLOAD), 13)


def event_body(bytes head, str message_id, nanos, bytes payload):
    cdef long long second = 0, micros = 0
    _split(nanos, &second, &micros)
    return _event_body(head, message_id, second, micros, payload)


cdef bytes _event_body(bytes head, str message_id, long long second, long long micros,
                       bytes payload):
    if second != _second:
        _date_of(second)
    cdef const char* id_text
    cdef Py_ssize_t id_size
    quoted = _id_text(message_id, &id_text, &id_size)
    out = PyBytes_FromStringAndSize(NULL, _event_size(head, id_size, payload))
    _event_into(PyBytes_AS_STRING(out), head, id_text, id_size, quoted is None, micros, payload)
    return out


cdef object _id_text(str message_id, const char** text, Py_ssize_t* size):
    """Where the event's message id is: ``text[0]``, ``size[0]`` bytes with its quotes
    (the str's own characters, between quotes the writer adds: ``None``; else the JSON
    string msgspec made, returned, to be kept while it is copied)."""
    if _plain_ascii(message_id):
        text[0] = PyUnicode_DATA(message_id)
        size[0] = PyUnicode_GET_LENGTH(message_id) + 2
        return None
    quoted = <bytes>_encode(message_id)
    text[0] = PyBytes_AS_STRING(quoted)
    size[0] = PyBytes_GET_SIZE(quoted)
    return quoted


cdef inline Py_ssize_t _event_size(bytes head, Py_ssize_t id_size, bytes payload):
    return PyBytes_GET_SIZE(head) + id_size + 55 + PyBytes_GET_SIZE(payload) + 1


cdef char* _event_into(char* at, bytes head, const char* id_text, Py_ssize_t id_size,
                       bint plain_id, long long micros, bytes payload):
    """``event_body``'s bytes written at ``at`` (``_event_size`` of them; ``_date`` made for
    their second): one store's publish writes them straight into its ``HPUB``."""
    at = _put(at, PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head))
    if plain_id:
        at[0] = 34  # the quotes around a message id written as it is
        at = _put(at + 1, id_text, id_size - 2)
        at[0] = 34
        at += 1
    else:
        at = _put(at, id_text, id_size)
    at = _stamp_into(at, micros)
    at = _put(at, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
    at[0] = 125  # "}"
    return at + 1


def hpub(bytes subject, bytes prefix, token, bytes head, bytes data):
    cdef Py_ssize_t n = token
    if n < 0:
        raise ValueError("a request number is 0 or more")
    return _hpub(subject, prefix, n, head, data)


cdef bytes _hpub(bytes subject, bytes prefix, Py_ssize_t n, bytes head, bytes data):
    cdef Py_ssize_t h = PyBytes_GET_SIZE(head), d = PyBytes_GET_SIZE(data)
    out = PyBytes_FromStringAndSize(NULL, _hpub_size(subject, prefix, n, h, d))
    cdef char* at = _hpub_line(PyBytes_AS_STRING(out), subject, prefix, n, h, d)
    at = _put(at, PyBytes_AS_STRING(head), h)
    at = _put(at, PyBytes_AS_STRING(data), d)
    _put(at, "\r\n", 2)
    return out


cdef inline Py_ssize_t _hpub_size(bytes subject, bytes prefix, Py_ssize_t n, Py_ssize_t h,
                                  Py_ssize_t d):
    """The bytes of an ``HPUB`` of ``h`` bytes of headers and ``d`` of data."""
    return (5 + PyBytes_GET_SIZE(subject) + 1 + PyBytes_GET_SIZE(prefix) + _digits(n) + 1
            + _digits(h) + 1 + _digits(h + d) + 2 + h + d + 2)


cdef char* _hpub_line(char* at, bytes subject, bytes prefix, Py_ssize_t n, Py_ssize_t h,
                      Py_ssize_t d):
    """An ``HPUB``'s control line at ``at``; where its headers go."""
    at = _put(at, "HPUB ", 5)
    at = _put(at, PyBytes_AS_STRING(subject), PyBytes_GET_SIZE(subject))
    at[0] = 32
    at = _put(at + 1, PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix))
    at = _number(at, n)
    at[0] = 32
    at = _number(at + 1, h)
    at[0] = 32
    at = _number(at + 1, h + d)
    return _put(at, "\r\n", 2)


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


cdef unsigned long long _EIGHT_21 = 0x2121212121212121ULL
cdef unsigned long long _EIGHT_80 = 0x8080808080808080ULL


cdef inline Py_ssize_t _field_end(const char* p, Py_ssize_t i, Py_ssize_t size):
    """Where the field at ``i`` of a line of ``size`` bytes ends: its first ASCII whitespace
    at or after ``i``, else ``size``. Eight bytes are passed at once while none of them is
    below 0x21 (every whitespace byte is: those eight are none), then byte by byte (a
    reply's subject is most of an ack's line, and a byte at a time was most of its read)."""
    cdef unsigned long long word
    while size - i >= 8:
        memcpy(&word, p + i, 8)
        if (word - _EIGHT_21) & ~word & _EIGHT_80:  # a byte below 0x21 among them
            break
        i += 8
    while i < size and not _space(p[i]):
        i += 1
    return i


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
    cdef long long _token

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
        self._token = -1

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
                    self._replied(self._token, payload)
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
            stop = pos
            pos = eol + 2
            if not self._line(p + stop, eol - stop) or self._buf is not buf:
                return -1
        return pos

    cdef long long _token_of(self, const char* p, Py_ssize_t size):
        """The twin's ``token_of`` for the subject at ``p`` (no bytes made of it)."""
        cdef Py_ssize_t start = PyBytes_GET_SIZE(self.prefix)
        if size >= start and memcmp(p, PyBytes_AS_STRING(self.prefix), start) == 0:
            return _count(p + start, size - start)
        return -1

    cdef void _replied(self, long long token, bytes data) except *:
        """The twin's ``_replied``, the subject's request number read with its line."""
        reply_to = self.waiting.pop(token, None)
        if reply_to is None:
            return
        if type(reply_to) is Ack:  # a store's: its bytes, completed in C
            if (<Ack>reply_to)._state == _PENDING:
                (<Ack>reply_to)._complete(_RESULT, data)
        elif not reply_to.done():
            reply_to.set_result(self.reply_type(data))

    cdef bint _line(self, const char* p, Py_ssize_t size) except -1:
        """Act on the protocol line at ``p`` (``size`` bytes, no CRLF); made a bytes object
        only when it is not a message's (a store's ack makes none of its line, its subject
        or its sid: its request's number is read where it is)."""
        cdef Py_ssize_t op_end = 0
        while op_end < size and p[op_end] != 32:
            op_end += 1
        cdef bint headed
        if op_end == 3 and (p[0] | 32) == 109 and (p[1] | 32) == 115 and (p[2] | 32) == 103:
            headed = False  # msg, any case
        elif (op_end == 4 and (p[0] | 32) == 104 and (p[1] | 32) == 109
                and (p[2] | 32) == 115 and (p[3] | 32) == 103):
            headed = True  # hmsg
        else:
            line = PyBytes_FromStringAndSize(p, size)
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
                return self._line_as_twin(PyBytes_FromStringAndSize(p, size), op_end, headed)
            starts[count] = i
            i = _field_end(p, i, size)
            ends[count] = i
            count += 1
        if count < (4 if headed else 3):
            return self._line_as_twin(PyBytes_FromStringAndSize(p, size), op_end, headed)
        cdef long long total = _count(p + starts[count - 1], ends[count - 1] - starts[count - 1])
        cdef long long head_len = -1
        if headed:
            head_len = _count(p + starts[count - 2], ends[count - 2] - starts[count - 2])
        if total < 0 or (headed and head_len < 0):
            return self._line_as_twin(PyBytes_FromStringAndSize(p, size), op_end, headed)
        if total > self.max_payload or head_len > total:
            self.wire._protocol_error(f"a message of {total} bytes")
            return False
        # the subject is read only for a reply (a subscription's message is handed its sid)
        if ends[1] - starts[1] == 1 and p[starts[1]] == _INBOX_DIGIT:
            self._sid = _INBOX  # the inbox's: no bytes made
            if headed:  # the link reads its headers
                self._subject = PyBytes_FromStringAndSize(p + starts[0], ends[0] - starts[0])
            else:  # a plain reply: its request's number is all that is read of it
                self._token = self._token_of(p + starts[0], ends[0] - starts[0])
        else:
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
            self._token = self._token_of(PyBytes_AS_STRING(parts[0]), len(parts[0]))
        except (ValueError, IndexError):
            self.wire._protocol_error(f"a malformed line {line[:40]!r}")
            return False
        with_reply = len(parts) == (4 if head_len < 0 else 5)
        self._reply = parts[2] if with_reply else b""
        self._need = total + 2
        return True


cdef Py_ssize_t _crlf(const char* p, Py_ssize_t start, Py_ssize_t end):
    """Where the first CRLF at or after ``start`` begins, or -1 (each CR found by ``memchr``,
    not a byte at a time)."""
    cdef const char* at = p + start
    cdef const char* last = p + end - 1  # a CR here or beyond has no LF after it
    while at < last:
        at = <const char*>memchr(at, 13, last - at)
        if at == NULL:
            return -1
        if at[1] == 10:
            return at - p
        at += 1
    return -1


cdef object _CancelledError = asyncio.CancelledError
cdef object _InvalidStateError = asyncio.InvalidStateError
cdef int _PENDING = 0
cdef int _RESULT = 1
cdef int _ERROR = 2
cdef int _CANCELLED = 3


@cython.freelist(256)
cdef class Ack:
    """The twin's ``Ack`` (a ``Deferred`` whose callbacks cannot break the reader), in C: its
    methods are what a future's are, C calls (the twin's are Python, which is why a Python
    ``Deferred`` did not pay here: see the performance page). One is made and let go per
    store: up to 256 let go are kept for the next ones (as ``Gated`` are)."""

    cdef object _loop
    cdef int _state
    cdef object _value
    cdef list _callbacks
    cdef Gated _gated
    """The gated CALL waiting for it, called first as it completes (by a C call: no list, no
    Python call); taken only as its first waiter, so the order of callbacks is kept."""

    def __init__(self, loop):
        self._loop = loop
        self._state = _PENDING
        self._value = None
        self._callbacks = None
        self._gated = None

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

    cdef bint _follow(self, Gated gated) except -1:
        """Call ``gated`` back in C as this completes, if it is the first to wait."""
        if self._state != _PENDING or self._callbacks is not None or self._gated is not None:
            return False
        self._gated = gated
        return True

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
        gated = self._gated
        if gated is not None:
            self._gated = None
            try:
                gated.fire(self, state == _CANCELLED)
            except Exception as exc:
                self._loop.call_exception_handler(
                    {"message": "a store's ack callback failed", "exception": exc}
                )
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


include "_blake2b.pxi"
include "_stores.pxi"
