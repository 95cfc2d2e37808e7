# cython: language_level=3
"""A durable CALL's event and its publish as bytes, in C: the compiled twin of
:mod:`ocpp_fast.cluster._store_py` (same functions, same bytes; its docstrings say what
each makes). Each result is one allocation, its parts copied in; the one step that is
not plain copying, a message id that JSON must escape, is msgspec's (as in the twin).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdio cimport snprintf
from libc.string cimport memcpy

import msgspec

from ocpp_fast.cluster._store_py import event_head

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

__all__ = ["event_body", "event_head", "hpub", "pub", "stamp"]

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
    cdef long long second, micros
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
    cdef long long second, micros
    _split(nanos, &second, &micros)
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


def hpub(bytes subject, bytes reply, bytes head, bytes data):
    cdef Py_ssize_t s = PyBytes_GET_SIZE(subject), r = PyBytes_GET_SIZE(reply)
    cdef Py_ssize_t h = PyBytes_GET_SIZE(head), d = PyBytes_GET_SIZE(data)
    out = PyBytes_FromStringAndSize(
        NULL, 5 + s + 1 + r + 1 + _digits(h) + 1 + _digits(h + d) + 2 + h + d + 2
    )
    cdef char* at = _put(PyBytes_AS_STRING(out), "HPUB ", 5)
    at = _put(at, PyBytes_AS_STRING(subject), s)
    at[0] = 32
    at = _put(at + 1, PyBytes_AS_STRING(reply), r)
    at[0] = 32
    at = _number(at + 1, h)
    at[0] = 32
    at = _number(at + 1, h + d)
    at = _put(at, "\r\n", 2)
    at = _put(at, PyBytes_AS_STRING(head), h)
    at = _put(at, PyBytes_AS_STRING(data), d)
    _put(at, "\r\n", 2)
    return out


def pub(bytes subject, bytes reply, bytes data):
    cdef Py_ssize_t s = PyBytes_GET_SIZE(subject), r = PyBytes_GET_SIZE(reply)
    cdef Py_ssize_t d = PyBytes_GET_SIZE(data)
    out = PyBytes_FromStringAndSize(NULL, 4 + s + 1 + r + 1 + _digits(d) + 2 + d + 2)
    cdef char* at = _put(PyBytes_AS_STRING(out), "PUB ", 4)
    at = _put(at, PyBytes_AS_STRING(subject), s)
    at[0] = 32
    at = _put(at + 1, PyBytes_AS_STRING(reply), r)
    at[0] = 32
    at = _number(at + 1, d)
    at = _put(at, "\r\n", 2)
    at = _put(at, PyBytes_AS_STRING(data), d)
    _put(at, "\r\n", 2)
    return out
