# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled frame codec: the hot path of ``ocpp_fast.codec``.

It does what ``_codec_py`` does, in C: scan the envelope of a CALL, a 2.1 SEND
or a CALLRESULT byte by byte (type digit, an ASCII message id of 1-36 characters
without escapes, an alphanumeric action), slice the payload and hand it to the
action's typed msgspec decoder. Like its twin it concludes only with success and
leaves every other frame to :mod:`ocpp_fast._reference`, which both share; so
the two agree byte for byte by construction, and the tests check that they do.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeASCII

from types import MappingProxyType

import msgspec

from ocpp_fast._reference import decode_frame_reference
from ocpp_fast.frames import SEND, Call, CallResult, Send

include "_scan.pxi"

IMPLEMENTATION = "cython"

cdef object _encode = msgspec.json.Encoder().encode
_NO_PENDING = MappingProxyType({})


cdef inline object _typed(object decoder, const unsigned char* p, Py_ssize_t start,
                          Py_ssize_t end):
    """The payload ``p[start:end]`` decoded, or ``_NOT_CONCLUDED`` for the reference path."""
    decode, has_datetime = decoder
    return _typed_with(decode, has_datetime, p, start, end)


def lenient_datetime(bytes data):
    """Whether ``data`` holds a date-time spelling msgspec accepts beyond RFC 3339."""
    return _lenient_at(<const unsigned char*>PyBytes_AS_STRING(data), 0, PyBytes_GET_SIZE(data))


def decode_frame(data, version, pending=_NO_PENDING):
    """Decode one received frame; raise the OcppError to answer it with."""
    converted = _frame_bytes(data)
    if converted is None:
        return decode_frame_reference(data, version, pending)
    cdef bytes buf = <bytes>converted

    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Head h
    cdef object message_id, name, obj, decoder

    if not _scan_head(p, n, &h):
        return decode_frame_reference(buf, version, pending)
    if h.kind != 51:  # CALL, or SEND where the version has SEND frames (else not ours)
        if h.kind == 54 and SEND not in version.message_types:
            return decode_frame_reference(buf, version, pending)
        name = PyUnicode_DecodeASCII(<const char*>p + h.act_start, h.act_end - h.act_start, NULL)
        try:
            decoder = version.request_decoders[name]
        except KeyError:
            return decode_frame_reference(buf, version, pending)
        obj = _typed(decoder, p, h.payload, n - 1)
        if obj is _NOT_CONCLUDED:
            return decode_frame_reference(buf, version, pending)
        message_id = PyUnicode_DecodeASCII(<const char*>p + h.id_start, h.id_end - h.id_start, NULL)
        return (Call if h.kind == 50 else Send)(message_id, name, obj)

    # CALLRESULT
    message_id = PyUnicode_DecodeASCII(<const char*>p + h.id_start, h.id_end - h.id_start, NULL)
    name = pending.get(message_id)
    decoder = None if name is None else version.response_decoders.get(name)
    if decoder is None:  # unknown id, or an action with no response (the reference says so)
        return decode_frame_reference(buf, version, pending)
    obj = _typed(decoder, p, h.payload, n - 1)
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
