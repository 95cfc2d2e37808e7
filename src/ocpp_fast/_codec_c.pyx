# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled frame codec: the hot path of ``ocpp_fast.codec``.

It does what ``_codec_py`` does, in C: scan the envelope of a CALL or a
CALLRESULT byte by byte (type digit, an ASCII message id of 1-36 characters
without escapes, an alphanumeric action), slice the payload and hand it to the
action's typed msgspec decoder. Like its twin it concludes only with success and
leaves every other frame to :mod:`ocpp_fast._reference`, which both share; so
the two agree byte for byte by construction, and the tests check that they do.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeASCII

from types import MappingProxyType

import msgspec

from ocpp_fast._reference import decode_frame_reference
from ocpp_fast.frames import Call, CallResult

IMPLEMENTATION = "cython"

# msgspec.DecodeError and ValidationError are ValueErrors, as is invalid UTF-8.
cdef tuple _DecodeFailure = (ValueError, RecursionError)
cdef object _encode = msgspec.json.Encoder().encode
cdef int MAX_ID = 36
cdef int MAX_ACTION = 64


cdef inline Py_ssize_t _skip_ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (p[i] == 32 or p[i] == 9 or p[i] == 10 or p[i] == 13):
        i += 1
    return i


cdef inline bint _id_char(unsigned char c) noexcept:
    # printable ASCII except '"' and '\': such an id's bytes are its JSON
    return 0x20 <= c <= 0x7e and c != 0x22 and c != 0x5c


cdef inline bint _action_char(unsigned char c) noexcept:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


cdef inline bint _digit(unsigned char c) noexcept:
    return 48 <= c <= 57


cdef bint _lenient_at(const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """The byte-loop twin of ``_reference.LENIENT_DATETIME.search`` over ``p[start:end]``.

    Matches ``\\d \\d\\d:\\d\\d:\\d\\d`` (a space-separated date-time) and
    ``\\d[+-]\\d\\d\\d\\d"`` (an offset without its colon).
    """
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(start + 1, end):
        c = p[i]
        if c == 32:
            if (i + 8 < end and _digit(p[i - 1]) and _digit(p[i + 1]) and _digit(p[i + 2])
                    and p[i + 3] == 58 and _digit(p[i + 4]) and _digit(p[i + 5])
                    and p[i + 6] == 58 and _digit(p[i + 7]) and _digit(p[i + 8])):
                return True
        elif c == 43 or c == 45:
            if (i + 5 < end and _digit(p[i - 1]) and _digit(p[i + 1]) and _digit(p[i + 2])
                    and _digit(p[i + 3]) and _digit(p[i + 4]) and p[i + 5] == 34):
                return True
    return False


cdef object _NOT_CONCLUDED = object()
_NO_PENDING = MappingProxyType({})


cdef inline object _typed(object decoder, const unsigned char* p, Py_ssize_t start,
                          Py_ssize_t end):
    """The payload ``p[start:end]`` decoded, or ``_NOT_CONCLUDED`` for the reference path."""
    decode, has_datetime, reference_only = decoder
    if reference_only:
        return _NOT_CONCLUDED
    try:
        obj = decode(PyBytes_FromStringAndSize(<const char*>p + start, end - start))
    except _DecodeFailure:
        return _NOT_CONCLUDED
    if has_datetime and _lenient_at(p, start, end):
        return _NOT_CONCLUDED
    return obj


def lenient_datetime(bytes data):
    """Whether ``data`` holds a date-time spelling msgspec accepts beyond RFC 3339."""
    return _lenient_at(<const unsigned char*>PyBytes_AS_STRING(data), 0, PyBytes_GET_SIZE(data))


def decode_frame(data, version, pending=_NO_PENDING):
    """Decode one received frame; raise the OcppError to answer it with."""
    cdef bytes buf
    if type(data) is bytes:
        buf = <bytes>data
    elif type(data) is str:
        try:
            buf = (<str>data).encode("utf-8")
        except UnicodeEncodeError:
            return decode_frame_reference(data, version, pending)
    else:
        return decode_frame_reference(data, version, pending)

    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t i, id_start, id_end, act_start, act_end, start
    cdef unsigned char kind
    cdef object message_id, name, obj, decoder

    if n < 8 or p[n - 1] != 93:  # ']'
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, 0, n)
    if p[i] != 91:  # '['
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, i + 1, n)
    kind = p[i]
    if kind != 50 and kind != 51:  # '2' / '3'
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 44:  # ','
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 34:  # '"'
        return decode_frame_reference(buf, version, pending)
    id_start = i + 1
    i = id_start
    while i < n and _id_char(p[i]):
        i += 1
    id_end = i
    if i >= n or p[i] != 34 or id_end == id_start or id_end - id_start > MAX_ID:
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 44:
        return decode_frame_reference(buf, version, pending)
    i = _skip_ws(p, i + 1, n)

    if kind == 50:  # CALL: an action string follows
        if i >= n or p[i] != 34:
            return decode_frame_reference(buf, version, pending)
        act_start = i + 1
        i = act_start
        while i < n and _action_char(p[i]):
            i += 1
        act_end = i
        if i >= n or p[i] != 34 or act_end == act_start or act_end - act_start > MAX_ACTION:
            return decode_frame_reference(buf, version, pending)
        i = _skip_ws(p, i + 1, n)
        if i >= n or p[i] != 44:
            return decode_frame_reference(buf, version, pending)
        start = i + 1
        if start >= n - 1:
            return decode_frame_reference(buf, version, pending)
        name = PyUnicode_DecodeASCII(<const char*>p + act_start, act_end - act_start, NULL)
        try:
            decoder = version.request_decoders[name]
        except KeyError:
            return decode_frame_reference(buf, version, pending)
        obj = _typed(decoder, p, start, n - 1)
        if obj is _NOT_CONCLUDED:
            return decode_frame_reference(buf, version, pending)
        message_id = PyUnicode_DecodeASCII(<const char*>p + id_start, id_end - id_start, NULL)
        return Call(message_id, name, obj)

    # CALLRESULT: the payload follows the id; it must not be a string (that would be
    # a fourth element, which the reference path reports).
    if i >= n - 1 or p[i] == 34:
        return decode_frame_reference(buf, version, pending)
    message_id = PyUnicode_DecodeASCII(<const char*>p + id_start, id_end - id_start, NULL)
    name = pending.get(message_id)
    if name is None:
        return decode_frame_reference(buf, version, pending)
    obj = _typed(version.response_decoders[name], p, i, n - 1)
    if obj is _NOT_CONCLUDED:
        return decode_frame_reference(buf, version, pending)
    return CallResult(message_id, obj, name)


def encode_call(str message_id, str action, payload):
    """``[2, id, action, payload]`` as compact JSON."""
    return _encode((2, message_id, action, payload))


def encode_send(str message_id, str action, payload):
    """2.1's ``[6, id, action, payload]`` as compact JSON."""
    return _encode((6, message_id, action, payload))


def encode_call_result(str message_id, payload):
    """``[3, id, payload]`` as compact JSON."""
    return _encode((3, message_id, payload))


def encode_call_error(str message_id, str code, str description, details, int kind=4):
    """``[4, id, code, description, details]`` (or 5, 2.1's CALLRESULTERROR)."""
    return _encode((kind, message_id, code, description, details))
