# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled dispatch path: a CALL's bytes to its CALLRESULT's bytes without leaving C
between the steps but to run the handler (and msgspec's decoder and encoder).

:mod:`ocpp_fast._fastpath` says what the path does and when it steps aside;
``_dispatch_py.py`` is its pure-Python twin, doing the same steps in the same
order (the tests compare the two byte for byte). The envelope scan is the
compiled codec's own (``_scan.pxi``, included by both).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItemWithError
from cpython.object cimport PyObject, Py_TYPE
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport (PyUnicode_1BYTE_DATA, PyUnicode_1BYTE_KIND, PyUnicode_DecodeASCII,
                              PyUnicode_GET_LENGTH, PyUnicode_KIND)
from cpython.datetime cimport PyDateTime_CheckExact, datetime_tzinfo, import_datetime
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython cimport array
from libc.string cimport memcmp, memcpy

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    enum:
        T_OBJECT_EX
        READONLY

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

cdef extern from *:
    """
    /* time.perf_counter() without a Python call or a float object: the same clock, so a
       start read here is comparable with perf_counter() in aio. */
    static double ocpp_fast_perf_counter(void) {
    #if PY_VERSION_HEX >= 0x030D0000
        PyTime_t t;
        (void)PyTime_PerfCounterRaw(&t);
        return PyTime_AsSecondsDouble(t);
    #else
        return _PyTime_AsSecondsDouble(_PyTime_GetPerfCounter());
    #endif
    }
    """
    double ocpp_fast_perf_counter()

import asyncio
import datetime
import logging
import types as _types

import msgspec

from ocpp_fast._fastpath import HandlerRan, drop_outcome
from ocpp_fast import _response_plan as _plans
from ocpp_fast._frame_log import debug_enabled, frames_log, log_frame
from ocpp_fast import _metric_cells as _cells
from ocpp_fast.frames import Call, Send
from ocpp_fast.protocol import CallReceived, SendReceived

include "_scan.pxi"

IMPLEMENTATION = "cython"

cdef object _encode = msgspec.json.Encoder().encode
cdef tuple _EncodeFailure = (TypeError, ValueError, OverflowError)
cdef object _ValidationError = msgspec.ValidationError
cdef object _debug_enabled = debug_enabled
cdef object _DEBUG = logging.DEBUG
cdef object _log_state = getattr(frames_log, "__dict__", None)
cdef object _log_cache = getattr(frames_log, "_cache", None)
cdef object _UNSET = msgspec.UNSET
cdef object _UTC = datetime.timezone.utc
cdef object _ABSENT = object()
cdef object _ensure_future = asyncio.ensure_future
import_datetime()

# The layout of a metrics cell (ocpp_fast._metric_cells, which says what each slot holds).
cdef Py_ssize_t C_SUM = _cells.SUM
cdef Py_ssize_t C_CALLS_IN = _cells.CALLS_IN
cdef Py_ssize_t C_RESULTS_OUT = _cells.RESULTS_OUT
cdef Py_ssize_t C_SENDS_IN = _cells.SENDS_IN
cdef Py_ssize_t C_SIZE = _cells.SIZE
cdef double _bounds[32]
cdef Py_ssize_t _bound_count = len(_cells.BUCKETS)
if _bound_count > 32 or C_SUM != _bound_count + 1:
    raise ImportError("ocpp_fast._metric_cells: a layout _dispatch_c was not built for")
for _i, _bound in enumerate(_cells.BUCKETS):
    _bounds[_i] = _bound
cdef object _clock = None
"""A clock to read in place of perf_counter (``use_clock``), or ``None``."""


def use_clock(clock=None):
    """Read handler times from ``clock`` (``None``: ``time.perf_counter`` again): the tests
    make them the same in both twins."""
    global _clock
    _clock = clock


cdef inline double _now() except? -1.0:
    if _clock is not None:
        return _clock()
    return ocpp_fast_perf_counter()


cdef inline void _observe(double* cell, double seconds) noexcept:
    """``_metric_cells.observe``, its twin: the bucket is the first bound at or above."""
    cdef Py_ssize_t i = 0
    while i < _bound_count and seconds > _bounds[i]:
        i += 1
    cell[i] += 1
    cell[C_SUM] += seconds


cdef bint _frames_logged() except -1:
    """``debug_enabled()`` without a Python frame (a tenth of a Heartbeat's path otherwise).

    ``Logger.isEnabledFor`` answers from the logger's ``disabled`` flag, then its level
    cache (cleared by logging whenever a level changes); both are read here, and where
    either is not what CPython's logging keeps, or the cache has no answer yet, the
    call itself is made (and fills the cache).
    """
    cdef PyObject* found
    if type(_log_state) is dict and type(_log_cache) is dict:
        found = PyDict_GetItemWithError(<dict>_log_state, "disabled")
        if found != NULL:
            if <object>found:
                return False
            found = PyDict_GetItemWithError(<dict>_log_cache, _DEBUG)
            if found != NULL:
                return <object>found is True
    return _debug_enabled()

# The fields of a FastRoute (a tuple: read by index here), and of its TypedDecoder.
cdef enum:
    METHOD = 0
    WANTS_CONTEXT = 1
    REQUEST = 2
    RESPONSE_TYPE = 3
    CHECK = 4
    EMPTY_IS_VALID = 5
    PLAN = 6
    IS_ASYNC = 7
    GATE = 8
    DECODE = 0
    HAS_DATETIME = 1


# The fields of a Gate (ocpp_fast._fastpath.Gate).
cdef enum:
    G_START = 0
    G_CHECK = 1
    G_CALLS = 2
    G_WANTS_CONTEXT = 3
    G_FIRST = 4
    G_KEEP_FRAME = 5


cdef inline str _message_id(const unsigned char* p, Head* h):
    return PyUnicode_DecodeASCII(<const char*>p + h.id_start, h.id_end - h.id_start, NULL)


cdef enum:
    SLOTS = 64  # a power of two


cdef class ActionSlots:
    """The action names last read and their routes, found by their bytes.

    Reading an action as a ``str`` and hashing it to find its route was a tenth of a
    Heartbeat's path: a fresh string per frame, hashed each time. A slot is picked
    from the name's length and three of its bytes and holds ``(name, route)``; a
    frame whose action bytes equal the slot's name takes both without making a
    string. A miss reads the name and looks it up as before, and takes the slot
    over. One table per :class:`~ocpp_fast._fastpath.FastRoutes` (so per handler
    class), shared by every connection: its entries never change, as a
    ``FastRoutes`` entry is set once.
    """

    cdef list _entries

    def __cinit__(self):
        self._entries = [None] * SLOTS

    cdef object find(self, const unsigned char* name, Py_ssize_t length, object routes):
        """``(name, route)`` of the action spelt ``name[:length]`` (ASCII letters and
        digits, as the scan allows); the route may be ``None``."""
        cdef Py_ssize_t slot = (length * 7 + name[0] * 3 + name[length - 1]
                                + name[length >> 1] * 5) & (SLOTS - 1)
        entry = self._entries[slot]
        if entry is not None:
            known = (<tuple>entry)[0]
            if (PyUnicode_GET_LENGTH(known) == length and PyUnicode_KIND(known) == PyUnicode_1BYTE_KIND
                    and memcmp(PyUnicode_1BYTE_DATA(known), name, length) == 0):
                return entry
        text = PyUnicode_DecodeASCII(<const char*>name, length, NULL)
        cdef PyObject* found = PyDict_GetItemWithError(<dict>routes, text)
        route = routes[text] if found == NULL else <object>found  # [] fills it in (not dict's)
        entry = (text, route)
        if text in <dict>routes:  # a name the table keeps (it keeps no made-up one)
            self._entries[slot] = entry
        return entry


# The kinds of a response plan (ocpp_fast._response_plan, which says what each checks).
cdef int P_ANY = _plans.ANY
cdef int P_DATETIME = _plans.DATETIME
cdef int P_ENUM = _plans.ENUM
cdef int P_STR = _plans.STR
cdef int P_INT = _plans.INT
cdef int P_BOOL = _plans.BOOL
cdef int P_STRUCT = _plans.STRUCT
cdef int P_LIST = _plans.LIST


cdef bint _surely_valid(object value, tuple plan) except -1:
    """``_response_plan.surely_valid``, its twin: the same verdicts, step by step; a
    Struct's fields are read from their slots (at their member descriptor's offset)."""
    cdef int kind = plan[0]
    cdef Py_ssize_t size
    cdef long long number
    cdef int overflow = 0
    cdef PyObject* held
    if kind == P_ANY:
        return True
    if kind == P_DATETIME:
        if not PyDateTime_CheckExact(value):
            return False
        zone = datetime_tzinfo(value)
        return zone is _UTC or (zone is None and <int>plan[1] == 0)
    if kind == P_ENUM:
        return type(value) is plan[1]
    if kind == P_STR:
        if type(value) is not str:
            return False
        size = PyUnicode_GET_LENGTH(value)
        return <Py_ssize_t>plan[1] <= size and (<Py_ssize_t>plan[2] < 0 or size <= <Py_ssize_t>plan[2])
    if kind == P_INT:
        if type(value) is not int:
            return False
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            return False
        return <long long>plan[1] <= number <= <long long>plan[2]
    if kind == P_BOOL:
        return value is True or value is False
    if kind == P_STRUCT:
        if type(value) is not plan[1]:
            return False
        for field in <tuple>plan[2]:
            descriptor = (<tuple>field)[0]
            held = _at_slot(value, (<PyMemberDescrObject*><PyObject*>descriptor).d_member.offset)
            if held == NULL:  # a slot never set
                return False
            if <object>held is _UNSET:
                if (<tuple>field)[1]:  # required
                    return False
            elif not _surely_valid(<object>held, <tuple>(<tuple>field)[2]):
                return False
        return True
    if kind == P_LIST:
        if type(value) is not list:
            return False
        size = len(<list>value)
        if size < <Py_ssize_t>plan[1] or 0 <= <Py_ssize_t>plan[2] < size:
            return False
        item = <tuple>plan[3]
        for element in <list>value:
            if not _surely_valid(element, item):
                return False
        return True
    return False


def surely_valid(value, plan):
    """``_surely_valid`` to Python (the tests hold it to its pure twin's verdicts)."""
    return _surely_valid(value, <tuple>plan)


cdef object _MemberDescriptor = _types.MemberDescriptorType


cdef Py_ssize_t _slot_offset(object kind, str name) except -2:
    """Where instances of ``kind`` hold ``name``: the offset of its slot, when the type's
    look-up finds a writable object slot of a base of ``kind`` (what the ``__slots__`` of
    :class:`~ocpp_fast.aio.AsyncConnection`, :class:`~ocpp_fast.aio.Slots` and the cluster
    link's ``NatsLink`` and ``_Wire`` make);
    else -1: read and written as any attribute (a subclass may shadow it with a property or
    a class attribute)."""
    found = getattr(kind, name, None)
    if type(found) is not _MemberDescriptor:
        return -1
    cdef PyMemberDef* member = (<PyMemberDescrObject*><PyObject*>found).d_member
    if member.type != T_OBJECT_EX or member.flags & READONLY:
        return -1
    if not issubclass(kind, found.__objclass__):
        return -1
    return member.offset


cdef enum:
    LAYOUT_MAX = 12  # names a _TypeLayout holds at most

cdef enum:  # the names of _connection_layout, in order
    C_WRITE, C_FREE, C_SLOTS, C_PENDING, C_DRAINED, C_STOPPED, C_PAUSED, C_BACKLOG, C_CLOSING,
    C_FAST, C_IDENTITY, C_PROTOCOL, C_COUNT

cdef enum:  # the names of _shared_layout, in order
    S_FREE, S_WAITING, S_COUNT

cdef enum:  # the names of _protocol_layout, in order
    P_METRICS, P_OUTBOX, P_COUNT

cdef enum:  # the names of _listener_layout, in order
    L_QUIET, L_REFUSING, L_UNREAD, L_FRAGMENTS, L_CONNECTION, L_TRANSPORT, L_DEFLATE, L_COUNT


@cython.final
cdef class _TypeLayout:
    """Where instances of a type hold ``names`` (``_slot_offset`` of each: -1 where a
    look-up must read and write it), learnt once per type, the last type met kept: the
    objects the path reads on every message are each of one type in a process (a gateway's
    connections, their protocols, the shared slots; the listeners of the server, and the
    client's where a process runs both). Read at their offsets, these attributes never go
    through CPython's type cache, whose collisions make a look-up a walk of the MRO on every
    message (see ``OcppListener``), nor through the instance's look-up at all (about a
    hundred instructions each)."""

    cdef tuple names
    cdef object kind  # the type the offsets are of, held: they are only good for it
    cdef Py_ssize_t count
    cdef Py_ssize_t at[LAYOUT_MAX]

    def __cinit__(self, tuple names):
        if len(names) > LAYOUT_MAX:
            raise ValueError(f"at most {LAYOUT_MAX} names")
        self.names = names
        self.count = len(names)

    cdef inline Py_ssize_t* _current(self, object obj) except NULL:
        """The offsets of ``obj``'s type (the type's check inline: several a durable CALL;
        the learning apart)."""
        if <PyObject*>Py_TYPE(obj) != <PyObject*>self.kind:
            self._learn(type(obj))
        return self.at

    cdef int _learn(self, object kind) except -1:
        cdef Py_ssize_t i
        for i in range(self.count):
            self.at[i] = _slot_offset(kind, <str>self.names[i])
        self.kind = kind
        return 0

    cdef inline void of(self, object obj, Py_ssize_t* at) except *:
        """Copy the offsets of ``obj``'s type into ``at`` (copied: a call the caller makes
        meanwhile may meet an object of another type and learn its offsets here)."""
        memcpy(at, self._current(obj), self.count * sizeof(Py_ssize_t))

    cdef inline Py_ssize_t one(self, object obj, Py_ssize_t index) except -2:
        """The offset of ``names[index]`` for ``obj``'s type (one read, nothing copied)."""
        return self._current(obj)[index]

    def offsets(self, obj):
        """The offsets learnt for ``obj``'s type, by name: the tests see which are read where."""
        cdef Py_ssize_t* at = self._current(obj)
        return {name: at[i] for i, name in enumerate(self.names)}


cdef _TypeLayout _connection_layout = _TypeLayout((
    "_write", "_free", "_slots", "_pending", "_drained", "_stopped", "_paused", "_backlog",
    "_closing", "_fast", "identity", "_protocol",
))
"""An :class:`~ocpp_fast.aio.AsyncConnection`'s state the path reads (``C_*`` order):
``feed``'s on every message, a gated CALL's (its slots taken and given back, its pending
entry) on every durable CALL."""
cdef _TypeLayout _shared_layout = _TypeLayout(("free", "_waiting"))
"""A connection's shared ``Slots`` (``task_slots``): its count and waiters (``S_*`` order)."""
cdef _TypeLayout _protocol_layout = _TypeLayout(("metrics", "_outbox"))
"""A connection's :class:`~ocpp_fast.protocol.Protocol`: its metrics (every CALL's
``_answer``, a gated CALL's conclusion) and outbox (``feed``, the conclusion)."""
cdef tuple _LISTENER_NAMES = (
    "quiet", "_refusing", "_unread_output", "_fragments", "connection", "transport", "_deflate"
)
cdef _TypeLayout _listener_layout = _TypeLayout(_LISTENER_NAMES)
"""The picows listener's attributes ``listener_frame`` and ``listener_write`` read per
message (``L_*`` order)."""


def layout_of(connection):
    """The offsets learnt for ``connection``'s type, by attribute name (-1: read and
    written as any attribute): the tests see which are read where."""
    return _connection_layout.offsets(connection)


def shared_layout_of(slots):
    """``layout_of`` for a connection's shared ``Slots``."""
    return _shared_layout.offsets(slots)


def protocol_layout_of(protocol):
    """``layout_of`` for a connection's ``Protocol``."""
    return _protocol_layout.offsets(protocol)


def listener_layout_of(listener):
    """``layout_of`` for a picows listener."""
    return _listener_layout.offsets(listener)


cdef inline object _protocol_metrics(object protocol):
    """``protocol.metrics`` (``None`` without a protocol), read at its slot: a CALL's
    ``_answer`` reads it on every message."""
    if protocol is None:
        return None
    return _get(protocol, _protocol_layout.one(protocol, P_METRICS), "metrics")


cdef inline object _protocol_outbox(object protocol):
    """``protocol._outbox``, read at its slot: ``feed`` reads it on every message."""
    return _get(protocol, _protocol_layout.one(protocol, P_OUTBOX), "_outbox")


cdef inline int _set(object obj, Py_ssize_t offset, str name, object value) except -1:
    """``obj.<name> = value``, written at its slot's ``offset`` where there is one."""
    cdef PyObject** at
    cdef PyObject* old
    if offset < 0:
        setattr(obj, name, value)
        return 0
    at = <PyObject**>((<char*><PyObject*>obj) + offset)
    old = at[0]
    Py_INCREF(value)
    at[0] = <PyObject*>value
    Py_XDECREF(old)
    return 0


cdef class GateStart:
    """The start of a :class:`~ocpp_fast._fastpath.Gate` that the path calls in C (declared
    in ``_dispatch_c.pxd``): ``begin`` is ``start(action, request, payload, context)``
    without a Python call, and ``follow`` has ``gated`` called back as ``ack`` completes by
    a C call, where the ack is one its module completes (then ``True``; ``False``: the
    path adds ``gated`` as the ack's done callback); ``check`` is the gate's ``check``
    (``Gate``'s second step, which must be the same), a C call too. A subclass is still a
    plain callable ``start`` to anything else (the pure twin, the general path). The
    cluster gateway's store (``cluster/_link_bytes_c.pyx``'s ``StoreStart``) is one."""

    def __call__(self, action, request, payload, context):
        return self.begin(action, request, payload, context, None)

    cdef object begin(self, object action, object request, object payload, object context,
                      Gated gated):
        """``start``; ``gated``, where the path calls it, holds the context's identity and
        message id in C fields (read there: a Struct's fields are look-ups)."""
        raise NotImplementedError

    cdef bint follow(self, object ack, Gated gated) except -1:
        return False

    cdef int check(self, object ack, object action, object context) except -1:
        raise NotImplementedError


cdef class FastDispatch:
    """One handler's compiled path (``protocol``: a live connection's, or ``None``)."""

    cdef object _handler
    cdef object _routes
    cdef object _context_type
    cdef object _peer
    cdef object _protocol
    cdef object _handling
    cdef ActionSlots _slots
    cdef object _metrics
    cdef dict _cells
    cdef object _frames

    def __init__(self, handler, routes, context_type, peer=None, protocol=None, frames=None):
        if not isinstance(routes, dict):
            raise TypeError("routes must be a FastRoutes table")
        slots = getattr(routes, "slots", None)
        if type(slots) is not ActionSlots:
            slots = ActionSlots()
            routes.slots = slots
        self._slots = <ActionSlots>slots
        self._handler = handler
        self._routes = routes
        self._context_type = context_type
        self._peer = peer
        self._protocol = protocol
        self._handling = None if protocol is None else protocol._handling
        if frames is not None and type(frames) is not dict:
            raise TypeError("frames must be a dict")
        self._frames = frames

    cdef array.array _cell(self, object metrics, str name):
        """The cell of ``name`` in ``metrics`` (``Metrics.cell``): from its table, read
        from the C dict while the connection's metrics stay the same object."""
        if metrics is not self._metrics:
            cells = metrics.cells
            if type(cells) is not dict:
                raise TypeError("Metrics.cells must be a dict")
            self._cells = <dict>cells
            self._metrics = metrics
        cdef PyObject* found = PyDict_GetItemWithError(self._cells, name)
        cell = metrics.cell(name) if found == NULL else <object>found
        if (type(cell) is not array.array or (<array.array>cell).ob_descr.typecode != 100
                or len(<array.array>cell) < C_SIZE):  # 100: 'd'
            raise TypeError("a metrics cell must be an array('d') of _metric_cells.SIZE")
        return <array.array>cell

    def answer(self, data, identity):
        """The CALLRESULT of ``data``; or the handler's outcome; or ``True`` (a SEND taken, a
        gated CALL started); or ``None``: not done."""
        return self._answer(data, identity)

    cdef object _answer(self, object data, object identity):
        converted = _frame_bytes(data)
        if converted is None:
            return None
        cdef bytes buf = <bytes>converted
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
        cdef Head h
        if not _scan_head(p, n, &h) or h.kind == 51:
            return None

        cdef tuple named = <tuple>self._slots.find(p + h.act_start, h.act_end - h.act_start,
                                                    self._routes)
        name = named[0]
        route = named[1]
        if route is None:
            return None
        cdef tuple fields = <tuple>route
        if h.kind != 50:  # 2.1's SEND
            return self._sent(fields, p, n, &h, name, data, identity)
        if fields[RESPONSE_TYPE] is None:
            return None  # a CALL of an action never answered: the general path refuses it
        cdef bint is_async = fields[IS_ASYNC]
        if is_async and self._protocol is None:
            return None  # handle() runs an async handler its own way, as it always did
        message_id = None  # made only where it is needed: most plain handlers never see it
        handling = self._handling
        if handling:
            message_id = _message_id(p, &h)
            if message_id in <set>handling:
                return None
        cdef tuple request_decoder = <tuple>fields[REQUEST]
        payload = PyBytes_FromStringAndSize(<const char*>p + h.payload, n - 1 - h.payload)
        request = _typed_from(request_decoder[DECODE], request_decoder[HAS_DATETIME], payload,
                              p, h.payload, n - 1)
        if request is _NOT_CONCLUDED:
            return False  # refused by the strict decode: for the reference path and tolerance

        cdef bint debug = _frames_logged()
        if debug:
            log_frame("<", identity, data)
        metrics = _protocol_metrics(self._protocol)
        cdef double started = 0.0
        cdef array.array cell = None
        if metrics is not None:
            cell = self._cell(metrics, name)
            cell.data.as_doubles[C_CALLS_IN] += 1
        if is_async:  # for the asyncio layer's slots and task (its handler time is taken there)
            gate = fields[GATE]
            if gate is not None and _slot_free(self._peer):
                if message_id is None:
                    message_id = _message_id(p, &h)
                return self._gated(fields, message_id, name, request, <bytes>payload, data,
                                   identity, cell)
            return CallReceived(self._in_hand(message_id, p, &h, name, request))
        frames = self._frames
        if frames is not None:  # kept while the handler runs, for connection.frame_of
            if message_id is None:
                message_id = _message_id(p, &h)
            (<dict>frames)[message_id] = data
        if cell is not None:
            started = _now()
        try:
            method = getattr(self._handler, <str>fields[METHOD])
            if fields[WANTS_CONTEXT]:
                if message_id is None:
                    message_id = _message_id(p, &h)
                result = method(request, self._context_type(identity, message_id, self._peer))
            else:
                result = method(request)
        except Exception as exc:
            return self._ran(message_id, p, &h, name, request, None, exc, started)
        reply = _reply(result, fields, <const char*>p + h.id_start, h.id_end - h.id_start)
        if reply is None:
            return self._ran(message_id, p, &h, name, request, result, None, started)
        _answered(frames, message_id, identity, reply, debug, cell, started)
        return reply

    cdef object _sent(self, tuple fields, const unsigned char* p, Py_ssize_t n, Head* h,
                      str name, object data, object identity):
        """A SEND (2.1) taken as the general path takes it (``Protocol.receive``, then its
        handler run as ``AsyncConnection`` or ``handle_async`` runs it): decoded strictly,
        logged, counted, its plain handler run, and never answered. ``True``: the handler
        returned ``None``, nothing is left to do; else as a CALL's outcomes (``False``,
        ``None``, :class:`HandlerRan` for what it raised or returned, the decoded event of an
        async handler's)."""
        if fields[RESPONSE_TYPE] is not None:
            return None  # a SEND of a CALL's action: the general path drops it, with its warning
        cdef bint is_async = fields[IS_ASYNC]
        if is_async and self._protocol is None:
            return None  # handle() runs an async handler its own way, as it always did
        cdef tuple request_decoder = <tuple>fields[REQUEST]
        request = _typed_with(request_decoder[DECODE], request_decoder[HAS_DATETIME], p,
                              h.payload, n - 1)
        if request is _NOT_CONCLUDED:
            return False  # refused by the strict decode: for the reference path and tolerance
        if _frames_logged():
            log_frame("<", identity, data)
        metrics = _protocol_metrics(self._protocol)
        cdef array.array cell = None
        if metrics is not None:  # the series Protocol.receive counts it in, by its cell
            cell = self._cell(metrics, name)
            cell.data.as_doubles[C_SENDS_IN] += 1
        message_id = None  # made only where it is needed: a plain handler's never sees it
        if is_async:  # for the asyncio layer's slots and task, as a CALL's
            return SendReceived(Send(_message_id(p, h), name, request))
        cdef double started = _now() if cell is not None else 0.0
        try:
            method = getattr(self._handler, <str>fields[METHOD])
            if fields[WANTS_CONTEXT]:
                message_id = _message_id(p, h)
                result = method(request, self._context_type(identity, message_id, self._peer))
            else:
                result = method(request)
        except Exception as exc:  # logged by the general code, never answered
            return HandlerRan(Send(message_id or _message_id(p, h), name, request), None, exc,
                              started)
        if result is not None:  # an awaitable, say: the general code's to run
            return HandlerRan(Send(message_id or _message_id(p, h), name, request), result, None,
                              started)
        if cell is not None:
            _observe(cell.data.as_doubles, _now() - started)
        return True

    cdef object _gated(self, tuple fields, str message_id, str action, object request,
                       bytes payload, object data, object identity, array.array cell):
        """Start the gate of a CALL on a live connection (its slots free): ``True``, the CALL
        is the path's until :class:`Gated` answers it; or what ``start`` raised, for the
        general code to answer. In hand until then, its frame kept (when the gate keeps frames)
        as the general path does for a handler that answers later; its handler time starts
        here, as there."""
        connection = self._peer
        cdef double started = _now() if cell is not None else 0.0
        context = self._context_type(identity, message_id, connection)
        if self._handling is not None:
            (<set>self._handling).add(message_id)
        frames = self._frames
        if frames is not None and (<tuple>fields[GATE])[G_KEEP_FRAME]:
            (<dict>frames)[message_id] = data
        cdef Gated gated = Gated.__new__(Gated)  # Gated(...) without its Python call
        gated.dispatch = self
        gated.connection = connection
        gated.context = context
        gated.fields = fields
        gated.message_id = message_id
        gated.identity = identity
        gated.action = action
        gated.request = request
        # no raw_id: its answer is written from the message id's own ASCII (_gated_reply)
        gated.started = started
        start = (<tuple>fields[GATE])[G_START]
        try:
            if isinstance(start, GateStart):  # the store's: begun and followed by C calls
                ack = (<GateStart>start).begin(action, request, payload, context, gated)
                followed = (<GateStart>start).follow(ack, gated)
            else:
                ack = start(action, request, payload, context)
                followed = False
            if not followed:
                # the twin's hasattr, the method kept for the call below (one look-up, not three)
                add_done_callback = getattr(ack, "add_done_callback", _ABSENT)
                if add_done_callback is _ABSENT:  # a coroutine (over nats-py); a future: as is
                    ack = _ensure_future(ack)
                    add_done_callback = ack.add_done_callback
        except Exception as exc:
            return HandlerRan(Call(message_id, action, request), None, exc, started)
        gated.ack = ack
        cdef Py_ssize_t at[C_COUNT]  # its slots read where they are
        cdef Py_ssize_t shared[S_COUNT]
        _connection_layout.of(connection, at)
        _set(connection, at[C_FREE], "_free", _get(connection, at[C_FREE], "_free") - 1)
        slots = _get(connection, at[C_SLOTS], "_slots")
        if slots is not None:  # Slots.take, its free slot seen by _slot_free
            _shared_layout.of(slots, shared)
            _set(slots, shared[S_FREE], "free", _get(slots, shared[S_FREE], "free") - 1)
        pending = _get(connection, at[C_PENDING], "_pending")
        if type(pending) is dict:
            (<dict>pending)[gated] = 1
        else:
            pending[gated] = 1
        if not followed:
            add_done_callback(gated)
        if (<tuple>fields[GATE])[G_FIRST]:
            self._run_first(gated, fields)
        return True

    cdef void _run_first(self, Gated gated, tuple fields) except *:
        """A handler-first gate's handler, run as its step begins (the request and the
        connection still hot): its answer built now and kept on ``gated`` (or what it
        returned that the path does not vouch for, or what it raised) until the step is
        through, when :meth:`_conclude` writes it."""
        cdef tuple gate = <tuple>fields[GATE]
        calls = gate[G_CALLS]
        try:
            if gate[G_WANTS_CONTEXT]:
                result = calls(self._handler, gated.request, gated.context)
            else:
                result = calls(self._handler, gated.request)
        except Exception as exc:
            gated.error = exc
            return
        reply = _gated_reply(gated, result, fields)
        if reply is None:
            gated.result = result
        else:
            gated.reply = reply
            gated.request = None  # let go while hot: a failed store's error needs only its id

    cdef object _conclude(self, Gated gated, object ack):
        """The gate of ``gated`` is through (or failed): the user's handler run (a
        handler-first gate's ran as it began: its outcome is taken) and its response answered
        and written, as the path answers a plain handler's; anything else (an error, a result
        the path does not vouch for) handed to the general code."""
        connection = gated.connection
        context = gated.context
        action = gated.action
        request = gated.request
        cdef double started = gated.started
        message_id = gated.message_id
        cdef tuple fields = gated.fields  # the route it started on (read again: a look-up)
        cdef tuple gate = <tuple>fields[GATE]
        start = gate[G_START]
        cdef bint first = gate[G_FIRST]
        try:
            if isinstance(start, GateStart):  # its check is the gate's, in C
                (<GateStart>start).check(ack, action, context)
            else:
                gate[G_CHECK](ack, action, context)
            if not first:
                calls = gate[G_CALLS]
                if gate[G_WANTS_CONTEXT]:
                    result = calls(self._handler, request, context)
                else:
                    result = calls(self._handler, request)
        except Exception as exc:
            if first:
                drop_outcome(gated.result)
            return _hand_over(connection, message_id, action, request, None, exc, started)
        if first:  # the handler ran as the step began: its outcome was kept
            if gated.error is not None:
                return _hand_over(connection, message_id, action, request, None, gated.error,
                                  started)
            reply = gated.reply
            result = gated.result
        else:
            reply = _gated_reply(gated, result, fields)
        if reply is None:
            return _hand_over(connection, message_id, action, request, result, None, started)
        if self._handling is not None:
            (<set>self._handling).discard(message_id)
        protocol = self._protocol
        cdef Py_ssize_t held[P_COUNT]  # read where they are
        _protocol_layout.of(protocol, held)
        metrics = _get(protocol, held[P_METRICS], "metrics")
        cdef array.array cell = None if metrics is None else self._cell(metrics, action)
        _answered(self._frames, message_id, gated.identity, reply, _frames_logged(), cell,
                  started)
        outbox = _get(protocol, held[P_OUTBOX], "_outbox")
        try:
            if outbox:
                outbox.append(reply)
                connection._write_out()
            else:
                _get(connection, _connection_layout.one(connection, C_WRITE), "_write")(reply)
        except Exception as exc:  # the transport failing under it, as in AsyncConnection
            self._protocol.log.debug("could not send a reply: %r", exc)
        return None

    cdef object _ran(self, object message_id, const unsigned char* p, Head* h, str action,
                     object request, object result, object error, double started):
        """Hand the handler's outcome to the general code."""
        return HandlerRan(self._in_hand(message_id, p, h, action, request), result, error, started)

    cdef object _in_hand(self, object message_id, const unsigned char* p, Head* h, str action,
                         object request):
        """The CALL, left to the general code: its id is in hand until it is answered."""
        if message_id is None:
            message_id = _message_id(p, h)
        if self._handling is not None:
            (<set>self._handling).add(message_id)
        return Call(message_id, action, request)


cdef bint _slot_free(object connection) except -1:
    """Whether a gated CALL can start on the compiled path: ``connection`` is a live one that
    writes its frames (not a sending transport's: those answer through a task) with a slot
    free of its own and of the shared ones (``AsyncConnection._take_slot`` would take it)."""
    if connection is None:
        return False
    cdef Py_ssize_t at[C_COUNT]
    _connection_layout.of(connection, at)
    if _get(connection, at[C_WRITE], "_write") is None or _get(connection, at[C_FREE], "_free") <= 0:
        return False
    slots = _get(connection, at[C_SLOTS], "_slots")
    if slots is None:
        return True
    cdef Py_ssize_t shared[S_COUNT]
    _shared_layout.of(slots, shared)
    return _get(slots, shared[S_FREE], "free") > 0


cdef object _reply(object result, tuple fields, const char* raw_id, Py_ssize_t id_len):
    """``[3,"<id>",<payload>]`` of a handler's ``result``; ``None`` where the general code must
    judge it (not the response type, not encodable, refused by the check)."""
    if type(result) is not fields[RESPONSE_TYPE]:
        return None
    try:
        body = _encode(result)
    except _EncodeFailure:
        return None
    cdef Py_ssize_t body_len = PyBytes_GET_SIZE(body)
    cdef const char* body_p = PyBytes_AS_STRING(body)
    plan = fields[PLAN]
    if not (fields[EMPTY_IS_VALID] and body_len == 2 and body_p[0] == 123 and body_p[1] == 125) and not (
            plan is not None and _surely_valid(result, <tuple>plan)):
        try:
            fields[CHECK](body)
        except _ValidationError:
            return None
    # [3,"<id>",<body>]: the id's bytes are its JSON (the scan allows no escapes)
    reply = PyBytes_FromStringAndSize(NULL, id_len + body_len + 7)
    cdef char* out = PyBytes_AS_STRING(reply)
    memcpy(out, b'[3,"', 4)
    memcpy(out + 4, raw_id, id_len)
    memcpy(out + 4 + id_len, b'",', 2)
    memcpy(out + 6 + id_len, body_p, body_len)
    out[6 + id_len + body_len] = 93  # ']'
    return reply


cdef object _gated_reply(Gated gated, object result, tuple fields):
    """``_reply`` with a gated CALL's id: the bytes given to ``Gated(...)``, else (the path's,
    which makes none: an allocation per durable CALL) its message id's own characters, read
    from the frame as ASCII."""
    raw_id = gated.raw_id
    if raw_id is not None:
        return _reply(result, fields, PyBytes_AS_STRING(raw_id), PyBytes_GET_SIZE(raw_id))
    message_id = gated.message_id
    if not PyUnicode_IS_COMPACT_ASCII(message_id):  # not the path's: as raw_id was made
        raw_id = (<str>message_id).encode("ascii")
        return _reply(result, fields, PyBytes_AS_STRING(raw_id), PyBytes_GET_SIZE(raw_id))
    return _reply(result, fields, <const char*>PyUnicode_1BYTE_DATA(message_id),
                  PyUnicode_GET_LENGTH(message_id))


cdef void _answered(object frames, object message_id, object identity, object reply, bint debug,
                    array.array cell, double started) except *:
    """A CALL answered on the path: its frame let go, the reply logged, its metrics kept."""
    if frames is not None:  # answered: let go (the general code lets go of the others)
        (<dict>frames).pop(message_id, None)
    if debug:
        log_frame(">", identity, reply)
    if cell is not None:
        cell.data.as_doubles[C_RESULTS_OUT] += 1
        _observe(cell.data.as_doubles, _now() - started)


cdef object _hand_over(object connection, object message_id, object action, object request,
                       object result, object error, double started):
    """A gated CALL whose outcome is the general code's (as the path hands over a plain
    handler's: ``AsyncConnection._handler_ran``), written out."""
    connection._handler_ran(HandlerRan(Call(message_id, action, request), result, error, started))
    try:
        connection._write_out()
    except Exception as exc:  # the transport failing under it, as in AsyncConnection
        connection.protocol.log.debug("could not send a reply: %r", exc)
    return None


@cython.freelist(256)
cdef class Gated:
    """A gated CALL waiting for its gate: the done callback of the gate's future, and what the
    connection holds in ``_pending`` meanwhile (``stop`` cancels it, ``drain`` waits for it),
    as it holds the future a plain handler hands back (``AsyncConnection._settled``). Its
    fields are declared in ``_dispatch_c.pxd`` (a store's ack calls :meth:`fire` in C).

    One is made and let go per durable CALL: up to 256 let go are kept for the
    next ones (Cython's free list: their memory taken again, recently used, not asked of the
    allocator and given back to it each time)."""

    def __init__(self, FastDispatch dispatch, connection, context, action, request,
                 bytes raw_id, ack, double started):
        self.dispatch = dispatch
        self.connection = connection
        self.context = context
        self.fields = None if dispatch is None else dispatch._routes[action]
        self.message_id = context.message_id
        self.identity = context.identity
        self.action = action
        self.request = request
        self.raw_id = raw_id
        self.ack = ack
        self.started = started
        self.done = False

    def __call__(self, ack):
        """The gate's future is done: the CALL answered, unless it was cancelled or the
        connection stopped (then nothing is, and what the future raised is retrieved)."""
        self.fire(ack, ack.cancelled())

    cdef void fire(self, object ack, bint cancelled) except *:
        """``__call__``'s steps, called in C by a store's ack (``GateStart.follow``), which
        says whether it was cancelled (no Python call to ask it)."""
        if self.done:  # cancelled meanwhile
            if not cancelled:
                ack.exception()
            return
        self._release()
        connection = self.connection
        cdef Py_ssize_t at[C_COUNT]
        _connection_layout.of(connection, at)
        if cancelled or _get(connection, at[C_STOPPED], "_stopped"):
            if not cancelled:
                ack.exception()
            self._let_go()
        else:
            (<FastDispatch>self.dispatch)._conclude(self, ack)
        if _get(connection, at[C_PAUSED], "_paused"):
            connection._work_backlog()

    def cancel(self):
        """Nobody wants the answer any more (``AsyncConnection.stop``): the gate's future
        cancelled, so the user's handler never runs; the slots given back now."""
        if self.done:
            return False
        self._release()
        self.ack.cancel()
        self._let_go()
        if self.connection._paused:
            self.connection._work_backlog()
        return True

    cdef void _release(self) except *:
        """No longer pending: the connection's slots back, ``drain`` told when none is left."""
        self.done = True
        connection = self.connection
        cdef Py_ssize_t at[C_COUNT]  # its slots read where they are
        _connection_layout.of(connection, at)
        pending = _get(connection, at[C_PENDING], "_pending")
        if type(pending) is dict:
            del (<dict>pending)[self]
        else:
            del pending[self]
        if not pending:  # drain is told (at saturation most releases leave others pending)
            drained = _get(connection, at[C_DRAINED], "_drained")
            if drained is not None and not drained.done():
                drained.set_result(None)
        slots = _get(connection, at[C_SLOTS], "_slots")
        cdef Py_ssize_t shared[S_COUNT]
        if slots is not None:
            _shared_layout.of(slots, shared)
            if _get(slots, shared[S_WAITING], "_waiting"):
                slots.give()
            else:  # Slots.give, none waiting
                _set(slots, shared[S_FREE], "free", _get(slots, shared[S_FREE], "free") + 1)
        _set(connection, at[C_FREE], "_free", _get(connection, at[C_FREE], "_free") + 1)

    cdef void _let_go(self) except *:
        """The twin's: kept frame dropped, id no longer in hand."""
        message_id = self.message_id
        cdef FastDispatch dispatch = <FastDispatch>self.dispatch
        frames = dispatch._frames
        if frames:
            (<dict>frames).pop(message_id, None)
        if dispatch._handling is not None:
            (<set>dispatch._handling).discard(message_id)


def handle(handler, frame, identity=""):
    """:meth:`OcppHandler.handle <ocpp_fast.dispatch.OcppHandler.handle>` in C: the
    compiled path's reply, or the rest of ``handle`` (``handler._handle_outcome``).

    ``dispatch`` puts it in place of the Python method when this module is built: the
    same steps, without the Python frame that was a sixth of a Heartbeat's ``handle``.
    """
    made = getattr(handler, "_handle_path")
    if type(made) is tuple and (<tuple>made)[0] is type(handler):
        dispatcher = (<tuple>made)[1]
    else:
        dispatcher = handler._handle_dispatcher()
    if type(dispatcher) is FastDispatch:
        outcome = (<FastDispatch>dispatcher)._answer(frame, identity)
    else:
        outcome = dispatcher.answer(frame, identity)
    if type(outcome) is bytes:
        return outcome
    if outcome is True:  # a SEND taken: never answered
        return None
    return handler._handle_outcome(frame, identity, outcome)


def feed(connection, data):
    """:meth:`AsyncConnection.feed <ocpp_fast.aio.AsyncConnection.feed>` in C: the compiled
    path's reply written, or the rest of ``feed`` (``connection._feed_answered``, or
    ``connection._feed_protocol`` while CALLs wait or it closes).

    ``aio`` puts it in place of the Python method when this module is built: the same
    steps, without a Python frame on a live connection's path.
    """
    cdef Py_ssize_t at[C_COUNT]  # its state read where it is held
    _connection_layout.of(connection, at)
    if _get(connection, at[C_BACKLOG], "_backlog") or _get(connection, at[C_CLOSING], "_closing"):
        return connection._feed_protocol(data)
    dispatcher = _get(connection, at[C_FAST], "_fast")
    identity = _get(connection, at[C_IDENTITY], "identity")
    if type(dispatcher) is FastDispatch:
        answered = (<FastDispatch>dispatcher)._answer(data, identity)
    else:
        answered = dispatcher.answer(data, identity)
    write = _get(connection, at[C_WRITE], "_write")
    if type(answered) is bytes and write is not None:
        if not _protocol_outbox(_get(connection, at[C_PROTOCOL], "_protocol")):
            write(answered)
            return True
    elif answered is True:  # gated, or a SEND: nothing to write
        if not _protocol_outbox(_get(connection, at[C_PROTOCOL], "_protocol")):
            return True
    return connection._feed_answered(data, answered)


# --- the picows listener (ocpp_fast.transport._picows_wire) --------------------------------------
# Its per-message steps, as ``feed``'s above: module functions put in place of
# ``OcppListener.on_ws_frame`` and ``OcppListener.write``, which stay their pure twins. picows is
# an optional extra whose layout is not ours: its objects are used as Python objects, and its
# constants are given by the listener's module (``use_picows``).

cdef object _TEXT = None
"""picows' ``WSMsgType.TEXT``; ``None`` until ``use_picows``."""
cdef object _COMPRESS_FROM = None
"""``_picows_wire.COMPRESS_FROM``: shorter answers go out uncompressed."""


def use_picows(text, compress_from):
    """Take picows' ``WSMsgType.TEXT`` and the listener's ``COMPRESS_FROM`` (before the
    listener's twins below are installed)."""
    global _TEXT, _COMPRESS_FROM
    _TEXT = text
    _COMPRESS_FROM = compress_from


cdef object _ZERO = 0


def listener_frame(listener, transport, frame):
    """:meth:`OcppListener.on_ws_frame <ocpp_fast.transport._picows_wire.OcppListener.on_ws_frame>`
    in C: the same checks in the same order, a whole text frame fed to the connection,
    every other frame left to ``listener._other_frame``."""
    cdef Py_ssize_t at[L_COUNT]
    _listener_layout.of(listener, at)
    _set(listener, at[L_QUIET], "quiet", _ZERO)
    if _get(listener, at[L_REFUSING], "_refusing"):
        return None
    socket = transport.underlying_transport
    if socket.get_write_buffer_size() > _get(listener, at[L_UNREAD], "_unread_output"):
        listener._abort_unread(socket)
        return None
    kind = frame.msg_type
    if (kind is _TEXT and frame.fin and not frame.rsv1
            and _get(listener, at[L_FRAGMENTS], "_fragments") is None):
        connection = _get(listener, at[L_CONNECTION], "connection")
        if connection is None:
            listener._keep_early(frame.get_payload_as_bytes())
        elif not connection.feed(frame.get_payload_as_bytes()):
            listener._over_bound(connection)
    else:
        listener._other_frame(transport, frame, kind)
    return None


def listener_write(listener, frame):
    """:meth:`OcppListener.write <ocpp_fast.transport._picows_wire.OcppListener.write>` in C:
    one message out as a text frame, compressed where agreed and worth it."""
    cdef Py_ssize_t at[L_COUNT]
    _listener_layout.of(listener, at)
    transport = _get(listener, at[L_TRANSPORT], "transport")
    if transport is None:
        return None
    deflate = _get(listener, at[L_DEFLATE], "_deflate")
    if deflate is not None and len(frame) >= _COMPRESS_FROM:
        transport.send(_TEXT, deflate.compress(frame), True, True)
    else:
        transport.send(_TEXT, frame)
    return None
