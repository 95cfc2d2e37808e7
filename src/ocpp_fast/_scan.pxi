# The byte-level envelope scan shared by the compiled codec (_codec_c.pyx) and the compiled
# dispatch path (_dispatch_c.pyx), each of which includes this file: one scan, two users.
# Its pure-Python twin is the _HEAD regex and _typed of _codec_py.py.

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memchr

# msgspec.DecodeError and ValidationError are ValueErrors, as is invalid UTF-8.
cdef tuple _DecodeFailure = (ValueError, RecursionError)
cdef int MAX_ID = 36
cdef int MAX_ACTION = 64
cdef object _NOT_CONCLUDED = object()


cdef struct Head:
    # Where the parts of a frame's envelope lie: the frame type digit ('2', '3' or 2.1's
    # '6'), the message id's bytes, the action's (a CALL's or a SEND's only) and where the
    # payload starts (it ends before the closing ']', the frame's last byte).
    unsigned char kind
    Py_ssize_t id_start
    Py_ssize_t id_end
    Py_ssize_t act_start
    Py_ssize_t act_end
    Py_ssize_t payload


cdef inline object _frame_bytes(object data):
    """A received frame as bytes (text as UTF-8), or ``None`` where it has none (text with
    lone surrogates, another type): the reference path judges those."""
    if type(data) is bytes:
        return data
    if type(data) is str:
        try:
            return (<str>data).encode("utf-8")
        except UnicodeEncodeError:
            return None
    return None


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


cdef bint _scan_head(const unsigned char* p, Py_ssize_t n, Head* h) noexcept:
    """Whether ``p[:n]`` opens as ``[2,"<id>","<Action>",`` (or a SEND's ``[6,...``, the
    same shape) or ``[3,"<id>",`` (JSON whitespace allowed between the parts) and ends with
    ``]``; ``h`` says where the parts lie. Anything else is for the reference path to judge
    (whether the version has SEND frames at all is the caller's to ask)."""
    cdef Py_ssize_t i
    if n < 8 or p[n - 1] != 93:  # ']'
        return False
    i = _skip_ws(p, 0, n)
    if p[i] != 91:  # '['
        return False
    i = _skip_ws(p, i + 1, n)
    h.kind = p[i]
    if h.kind != 50 and h.kind != 51 and h.kind != 54:  # '2' / '3' / '6'
        return False
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 44:  # ','
        return False
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 34:  # '"'
        return False
    h.id_start = i + 1
    i = h.id_start
    while i < n and _id_char(p[i]):
        i += 1
    h.id_end = i
    if i >= n or p[i] != 34 or h.id_end == h.id_start or h.id_end - h.id_start > MAX_ID:
        return False
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 44:
        return False
    i = _skip_ws(p, i + 1, n)
    if h.kind == 51:
        # CALLRESULT: the payload follows the id; it must not be a string (that would be
        # a fourth element, which the reference path reports).
        h.act_start = h.act_end = 0
        h.payload = i
        return i < n - 1 and p[i] != 34
    # CALL (or SEND): an action string follows
    if i >= n or p[i] != 34:
        return False
    h.act_start = i + 1
    i = h.act_start
    while i < n and _action_char(p[i]):
        i += 1
    h.act_end = i
    if i >= n or p[i] != 34 or h.act_end == h.act_start or h.act_end - h.act_start > MAX_ACTION:
        return False
    i = _skip_ws(p, i + 1, n)
    if i >= n or p[i] != 44:
        return False
    h.payload = i + 1
    return h.payload < n - 1


cdef inline bint _spaced_at(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept:
    # ``\\d \\d\\d:\\d\\d:\\d\\d`` with its space at ``p[i]``
    return (i + 8 < end and _digit(p[i - 1]) and _digit(p[i + 1]) and _digit(p[i + 2])
            and p[i + 3] == 58 and _digit(p[i + 4]) and _digit(p[i + 5])
            and p[i + 6] == 58 and _digit(p[i + 7]) and _digit(p[i + 8]))


cdef inline bint _colonless_at(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept:
    # ``\\d[+-]\\d\\d\\d\\d"`` with its sign at ``p[i]``
    return (i + 5 < end and _digit(p[i - 1]) and _digit(p[i + 1]) and _digit(p[i + 2])
            and _digit(p[i + 3]) and _digit(p[i + 4]) and p[i + 5] == 34)


cdef bint _any_at(const unsigned char* p, Py_ssize_t start, Py_ssize_t end,
                  unsigned char c) noexcept:
    """Whether a ``c`` in ``p[start + 1:end]`` opens a lenient spelling (``_spaced_at``
    for a space, ``_colonless_at`` for a sign): each ``c`` found by ``memchr``, which
    skips the bytes between them many at a time."""
    cdef const unsigned char* at = p + start + 1
    cdef const unsigned char* stop = p + end
    cdef Py_ssize_t i
    while at < stop:
        at = <const unsigned char*>memchr(at, c, stop - at)
        if at == NULL:
            return False
        i = at - p
        if _spaced_at(p, i, end) if c == 32 else _colonless_at(p, i, end):
            return True
        at += 1
    return False


cdef bint _lenient_at(const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """The twin of ``_reference.LENIENT_DATETIME.search`` over ``p[start:end]``.

    Matches ``\\d \\d\\d:\\d\\d:\\d\\d`` (a space-separated date-time) and
    ``\\d[+-]\\d\\d\\d\\d"`` (an offset without its colon). Every payload with a
    date-time is searched, so the search looks only where a space, a ``+`` or a ``-``
    is (a byte-by-byte loop was a quarter of a TransactionEvent's dispatch).
    """
    return _any_at(p, start, end, 32) or _any_at(p, start, end, 43) or _any_at(p, start, end, 45)


cdef inline object _typed_with(object decode, bint has_datetime, const unsigned char* p,
                               Py_ssize_t start, Py_ssize_t end):
    """The payload ``p[start:end]`` decoded by ``decode``, or ``_NOT_CONCLUDED`` for the
    reference path (the strict decode failed, or a lenient date-time spelling is in it)."""
    return _typed_from(decode, has_datetime,
                       PyBytes_FromStringAndSize(<const char*>p + start, end - start),
                       p, start, end)


cdef inline object _typed_from(object decode, bint has_datetime, bytes payload,
                               const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    """:func:`_typed_with` of ``payload``, the bytes of ``p[start:end]`` already made (a
    durable CALL's store takes the same bytes: made once, not once for each)."""
    try:
        obj = decode(payload)
    except _DecodeFailure:
        return _NOT_CONCLUDED
    if has_datetime and _lenient_at(p, start, end):
        return _NOT_CONCLUDED
    return obj
