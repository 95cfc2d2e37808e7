# A gateway's durable CALL stored in C, and the link's writes: Stores and Writer, included
# by _link_bytes_c.pyx (their pure twins are _link_bytes_py.py's; what each does and why is
# said there).

cdef inline void _blake_bytes(_Blake* s, bytes data) noexcept:
    _blake_add(s, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef str _TRANSACTION_EVENT = "TransactionEvent"
cdef long long _SEQ_BOUND = (<long long>1) << 62
"""A seqNo written from its C integer lies strictly within this (beyond: Python's ``%d``)."""


cdef inline bint _transaction_event(str action) except -1:
    """Whether ``action`` is the one whose dedup key is its transaction's (the twin's test)."""
    return action is _TRANSACTION_EVENT or action == _TRANSACTION_EVENT


cdef class _TxFields:
    """Where a TransactionEvent's request holds ``transaction_info`` and ``seq_no``, and its
    info ``transaction_id``: the offsets of their slots (``_slot_offset``), learnt once per
    type and kept with a station's action (its requests are all of one type). A msgspec
    Struct's fields are slots at fixed offsets; read by name they were three look-ups per
    TransactionEvent, half the mix. A type whose field is not a plain slot (a subclass's
    property, say) is read by name, as the twin reads every one."""

    cdef object kind
    cdef Py_ssize_t info_at
    cdef Py_ssize_t seq_at
    cdef object info_kind
    cdef Py_ssize_t id_at

    def __cinit__(self):
        self.info_at = self.seq_at = self.id_at = -1

    cdef int learn(self, object kind) except -1:
        self.info_at = _slot_offset(kind, "transaction_info")
        self.seq_at = _slot_offset(kind, "seq_no")
        self.kind = kind
        return 0

    cdef object transaction_id(self, object info):
        """``info.transaction_id`` (an AttributeError where it has none, as the twin's)."""
        kind = type(info)
        if kind is not self.info_kind:
            self.id_at = _slot_offset(kind, "transaction_id")
            self.info_kind = kind
        return _get(info, self.id_at, "transaction_id")


def transaction_fields_of(request, info=None):
    """The offsets ``_TxFields`` reads ``request``'s (and ``info``'s) fields at, by name (-1:
    read by name): the tests see which it reads where."""
    cdef _TxFields tx = _TxFields()
    tx.learn(type(request))
    if info is not None:
        tx.transaction_id(info)
    return {"transaction_info": tx.info_at, "seq_no": tx.seq_at, "transaction_id": tx.id_at}


cdef inline _TxFields _tx_fields(str action):
    """A TransactionEvent's ``_TxFields`` (nothing learnt yet), else ``None``: the dedup
    key's kind, which ``_transaction_event`` tells."""
    return _TxFields() if _transaction_event(action) else None


cdef int _dedup(_Blake* s, tuple heads, _TxFields tx, object request,
                object payload) except -1:
    """The twin's ``dedup_key``, hashed into ``s`` (its digest not taken); ``tx``: where a
    TransactionEvent's fields are (``_tx_fields``), ``None`` for any other action."""
    cdef Py_ssize_t size = 0
    cdef const char* text
    cdef char digits[24]
    cdef long long n
    cdef int count, overflow = 0
    if tx is not None:
        if type(request) is not tx.kind:
            tx.learn(type(request))
        info = _get_or_none(request, tx.info_at, "transaction_info")
        seq_no = _get_or_none(request, tx.seq_at, "seq_no")
        if info is not None and seq_no is not None:
            _blake_bytes(s, <bytes?>heads[0])
            transaction_id = tx.transaction_id(info)
            if type(transaction_id) is str:
                text = PyUnicode_AsUTF8AndSize(transaction_id, &size)
                _blake_add(s, text, size)
            else:
                _blake_bytes(s, transaction_id.encode())
            _blake_add(s, "\0", 1)
            n = PyLong_AsLongLongAndOverflow(seq_no, &overflow) if type(seq_no) is int else 0
            if type(seq_no) is int and overflow == 0 and -_SEQ_BOUND < n < _SEQ_BOUND:
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
    _dedup(&s, heads, _tx_fields(action), request, payload)
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
    ``,"duplicate":true`` or ``,"duplicate": true`` before the brace (nats-server writes the
    second: a store the stream already holds, which at a station's resend, or a
    generator's repeated payloads, is not rare); the name printable ASCII without an escape,
    the number JSON's (no leading zero), at most 18 digits. Anything else is decoded, as the
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
    return (_skip(p, at, end, b',"duplicate":true}', 18) == end
            or _skip(p, at, end, b',"duplicate": true}', 19) == end)


cdef bytes _MSG_ID_HEAD = MSG_ID_HEAD
cdef Py_ssize_t _MSG_ID_SIZE = len(MSG_ID_HEAD)


cdef inline Py_ssize_t _store_size(bytes subject, bytes prefix, Py_ssize_t n, bytes head,
                                   Py_ssize_t id_size, bytes payload):
    """The bytes of a store's ``HPUB`` (:func:`_store_into`)."""
    return _hpub_size(subject, prefix, n, _MSG_ID_SIZE + 32 + 4,
                      _event_size(head, id_size, payload))


cdef void _store_into(char* at, bytes subject, bytes prefix, Py_ssize_t n, _Blake* s,
                      bytes head, const char* id_text, Py_ssize_t id_size, bint plain_id,
                      long long micros, bytes payload) noexcept:
    """A store's ``HPUB`` (``_store_size`` bytes) written at ``at``: ``hpub`` of its
    ``Nats-Msg-Id`` header (the hex digest of ``s``) and ``event_body``'s bytes
    (``_id_text``'s message id, ``_date`` made for their second), each written in place
    (made apart, the header and the body were two more allocations and copies per durable
    CALL), where the writer holds its publishes or in a bytes object of its own."""
    cdef Py_ssize_t h = _MSG_ID_SIZE + 32 + 4
    cdef Py_ssize_t d = _event_size(head, id_size, payload)
    at = _hpub_line(at, subject, prefix, n, h, d)
    at = _put(at, PyBytes_AS_STRING(_MSG_ID_HEAD), _MSG_ID_SIZE)
    _blake_hex(s, at)
    at = _put(at + 32, "\r\n\r\n", 4)
    at = _event_into(at, head, id_text, id_size, plain_id, micros, payload)
    _put(at, "\r\n", 2)


cdef class Stores:
    """The twin's ``Stores`` in C: one C call per store, no Python frame (the relay's Python
    per store and per ack check were a third of a durable CALL's instructions)."""

    cdef public object relay
    cdef public Py_ssize_t count
    cdef object _timeout_key
    cdef object _batch_key
    """The link's batches' key for ``_timeout_key``: its ``int`` where the timeout is a whole
    number of seconds (equal to the float, so the same key of the link's ``_open``, whose
    hash is the number itself, where a float's is computed per store: ~100 instructions)."""
    cdef public Py_ssize_t bound
    cdef object _names
    cdef object _node
    cdef object _decode
    cdef dict _kept
    cdef object _loop
    cdef object _loop_running
    cdef object _link
    cdef dict _waiting
    cdef dict _open
    cdef object _tokens
    cdef bytes _prefix
    cdef object _link_loop
    cdef Py_ssize_t _wire_at
    """Where the link holds its connection (``_wire``: a slot of ``NatsLink``'s), or -1."""
    cdef object _wire_kind
    cdef Py_ssize_t _writer_at
    """Where a connection of ``_wire_kind`` holds its ``writer``, or -1 (learnt per type)."""

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
        self._loop_running = None
        self._link = None
        self._waiting = {}
        self._open = {}
        self._tokens = None
        self._prefix = b""
        self._link_loop = None
        self._wire_at = -1
        self._wire_kind = None
        self._writer_at = -1

    @property
    def timeout(self):
        return self._timeout_key

    @timeout.setter
    def timeout(self, seconds):
        timeout = float(seconds)
        self._timeout_key = timeout
        whole = timeout.is_integer() and abs(timeout) < 2**53
        self._batch_key = int(timeout) if whole else timeout

    @property
    def stations(self):
        return len(self._kept)

    def attach(self, link):
        self._link = link
        if link is not None:
            self._waiting = link._waiting
            self._open = link._open
            self._tokens = link._tokens
            self._prefix = link._prefix
            self._link_loop = link._loop
            self._wire_at = _slot_offset(type(link), "_wire")

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
            _tx_fields(action),  # the dedup key's kind, told once (not per store)
        )
        (<dict?>actions)[action] = made
        return made

    def starter(self, version):
        return StoreStart(self, version)

    def start(self, version, action, request, payload, context):
        return self._start(version, action, request, payload, context, None, None)

    cdef object _start(self, object version, object action, object request, object payload,
                       object context, Gated gated, object label):
        """``start``; ``label``, when not ``None``, is ``version``'s (``StoreStart`` keeps
        it), and ``gated`` holds the context's identity and message id (its C fields: a
        Struct's are look-ups)."""
        if type(action) is not str:
            raise TypeError(f"a store's action is a str, not {type(action).__name__}")
        if self._loop is None or not self._loop_running():
            loop = self.relay._attached_loop()
            self._loop_running = loop.is_running  # the bound method, looked up once per loop
            self._loop = loop
        if gated is None:
            identity = context.identity
        else:
            identity = gated.identity
        if label is None:
            label = version.label
        self.count += 1
        cdef _Blake s
        cdef timespec now
        cdef tuple made
        try:
            actions = self._kept.get(identity)
            found = None if actions is None else (<dict?>actions).get(action)
            if found is None or (<tuple>found)[0] != label:
                made = self._made(identity, action, label)
            else:
                made = <tuple>found
            _blake_start(&s)
            _dedup(&s, <tuple>made[4], <_TxFields>made[5], request, payload)
            clock_gettime(CLOCK_REALTIME, &now)
            message_id = context.message_id if gated is None else gated.message_id
            if self._link is not None:  # the publish's bytes made in one piece
                return self._request(<bytes>made[2], &s, <bytes>made[3], message_id,
                                     now.tv_sec, now.tv_nsec // 1000, payload)
            # over nats-py: the header is its dedup id alone (nats-py writes the rest)
            digest = PyBytes_FromStringAndSize(NULL, 32)
            _blake_hex(&s, PyBytes_AS_STRING(digest))
            body = _event_body(made[3], message_id, now.tv_sec, now.tv_nsec // 1000, payload)
            return self.relay.replies.request(
                made[1], body, self._timeout_key, {"Nats-Msg-Id": digest.decode("ascii")},
                gather=True,
            )
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None

    cdef Ack _request(self, bytes subject, _Blake* s, bytes head, str message_id,
                      long long second, long long micros, bytes payload):
        # what may fail, first (as when the body was made before the request): no request
        # number taken for a store that is not sent
        if second != _second:
            _date_of(second)
        cdef const char* id_text
        cdef Py_ssize_t id_size
        quoted = _id_text(message_id, &id_text, &id_size)
        link = self._link
        wire = _get(link, self._wire_at, "_wire")  # at its slot: a look-up was ~160 instructions
        if wire is None:
            raise ConnectionError(f"{link.name}: not connected to NATS")
        token = next(self._tokens)
        cdef Py_ssize_t size = _store_size(subject, self._prefix, token, head, id_size, payload)
        loop = self._link_loop
        cdef Ack ack = Ack.__new__(Ack)  # Ack(loop) without a Python call: pending, no callbacks
        ack._loop = loop
        self._waiting[token] = ack
        batch = self._open.get(self._batch_key)
        if batch is not None:
            (<list?>batch).append(token)
        else:
            link._expire_later(loop, self._batch_key, token)
        if type(wire) is not self._wire_kind:
            self._writer_at = _slot_offset(type(wire), "writer")
            self._wire_kind = type(wire)
        writer = _get(wire, self._writer_at, "writer")
        cdef char* at = NULL
        if type(writer) is Writer:  # held: written where the writer holds its publishes
            at = (<Writer>writer)._place(size, True)
        if at != NULL:
            _store_into(at, subject, self._prefix, token, s, head, id_text, id_size,
                        quoted is None, micros, payload)
            (<Writer>writer)._filled(size, True)
            return ack
        data = PyBytes_FromStringAndSize(NULL, size)  # leaving at once: bytes of its own
        _store_into(PyBytes_AS_STRING(data), subject, self._prefix, token, s, head, id_text,
                    id_size, quoted is None, micros, payload)
        if type(writer) is Writer:
            (<Writer>writer)._write(data)  # _place said: now (no second decision)
        else:
            writer.send(data, True)
        return ack

    def check(self, ack, action, context):
        self._check(ack, action, context)

    cdef int _check(self, object ack, object action, object context) except -1:
        try:
            if type(ack) is Ack and (<Ack>ack)._state == _RESULT:
                reply = (<Ack>ack)._value
                if type(reply) is bytes and _plainly_stored(<bytes>reply):
                    return 0
            else:
                reply = ack.result()
            stored = self._decode(reply if type(reply) is bytes else reply.data)
            if stored.error is not None or not stored.stream:
                self.relay._refused(reply)
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None
        return 0


cdef class StoreStart(GateStart):
    """The twin's ``starter``: ``Stores.start`` of one version, which the compiled dispatch
    path calls in C (``GateStart.begin``), its ack then completing the gated CALL by a C
    call (``follow``), and checks it by one (``check``, ``Stores.check``): no ``partial``,
    bound method, callbacks list or tuple per store."""

    cdef Stores stores
    cdef object version
    cdef object label

    def __init__(self, Stores stores, version):
        self.stores = stores
        self.version = version
        self.label = version.label  # the version's, read once (a look-up per store)

    cdef object begin(self, object action, object request, object payload, object context,
                      Gated gated):
        return self.stores._start(self.version, action, request, payload, context, gated,
                                  self.label)

    cdef bint follow(self, object ack, Gated gated) except -1:
        return type(ack) is Ack and (<Ack>ack)._follow(gated)

    cdef int check(self, object ack, object action, object context) except -1:
        return self.stores._check(ack, action, context)


cdef Py_ssize_t _GATHER_UP_TO = GATHER_UP_TO
cdef Py_ssize_t _GATHER_AT_MOST = GATHER_AT_MOST
cdef Py_ssize_t _AT_ONCE_BELOW = WRITE_AT_ONCE_BELOW


cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject** bytes, Py_ssize_t size) except -1


cdef Py_ssize_t _FIRST_ROOM = GATHER_UP_TO + 4096
"""Bytes a buffer of publishes is made with (grown for more): a window is written once it
holds ``GATHER_UP_TO``, so most never grow."""


cdef class Writer:
    """The twin's ``Writer`` in C: a store's publish is a C call from :class:`Stores`, its
    ``HPUB`` written straight into the buffer of what the loop's turn (or the write window)
    sends, a bytes object handed to the transport as it is, cut to its length (``_PyBytes_Resize``
    of the only reference: the memory just written, no copy). A ``bytes`` per publish, then a
    ``writelines`` of them, cost each durable CALL a ``malloc`` and a ``free`` of about a KiB
    (past the allocator's small sizes) and a piece of ``writev``."""

    cdef public object link
    cdef public object loop
    cdef public double window
    cdef public object transport
    cdef dict _waiting
    cdef PyObject* _buffer
    """The publishes held, a bytes object of ``_room`` bytes owned here alone (``NULL``: none)."""
    cdef Py_ssize_t _room
    cdef Py_ssize_t _held
    cdef Py_ssize_t _out_bytes
    cdef bint _windowed
    cdef object _flusher

    def __init__(self, link, loop, dict waiting, double window):
        self.link = link
        self.loop = loop
        self.window = window
        self.transport = None
        self._waiting = waiting
        self._buffer = NULL
        self._room = 0
        self._held = 0
        self._out_bytes = 0
        self._windowed = False
        self._flusher = None

    def __dealloc__(self):
        Py_XDECREF(self._buffer)
        self._buffer = NULL

    @property
    def held(self):
        return self._held

    def send(self, bytes data, bint gather=False):
        self._send(data, gather)

    cdef int _send(self, bytes data, bint gather) except -1:
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef char* at = self._place(size, gather)
        if at == NULL:
            return self._write(data)
        memcpy(at, PyBytes_AS_STRING(data), size)
        return self._filled(size, gather)

    cdef int _write(self, bytes data) except -1:
        """``data`` to the transport now, if there is one still open (else dropped: the
        connection is lost, and what waits for its reply fails with it)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
        return 0

    cdef char* _place(self, Py_ssize_t size, bint gather) except? NULL:
        """Where a publish of ``size`` bytes goes when it is held (the caller writes it there,
        then calls :meth:`_filled`); ``NULL``: it leaves at once, as the caller's own bytes
        (the twin's ``send``, its decisions in the same order)."""
        cdef char* at
        if self._held:
            return self._reserve(size)
        if self.window > 0 and gather:
            at = self._reserve(size)
            self._windowed = True
            self._flusher = self.loop.call_later(self.window, self.flush)
            return at
        if len(self._waiting) < _AT_ONCE_BELOW:
            return NULL
        at = self._reserve(size)
        self._flusher = self.loop.call_soon(self.flush)
        return at

    cdef char* _reserve(self, Py_ssize_t size) except NULL:
        """Room for ``size`` more bytes after those held (a buffer made, or grown)."""
        cdef Py_ssize_t need = self._out_bytes + size
        if self._buffer == NULL:
            self._room = need if need > _FIRST_ROOM else _FIRST_ROOM
            fresh = PyBytes_FromStringAndSize(NULL, self._room)
            self._buffer = <PyObject*>fresh
            Py_INCREF(fresh)  # owned by the writer; ``fresh`` lets go of its own at return
        elif need > self._room:
            room = need if need > 2 * self._room else 2 * self._room
            try:
                _PyBytes_Resize(&self._buffer, room)  # the only reference: grown where it can
            except MemoryError:  # the buffer is gone: its publishes' acks will time out
                self._room = self._held = self._out_bytes = 0
                raise
            self._room = room
        return PyBytes_AS_STRING(<object>self._buffer) + self._out_bytes

    cdef int _filled(self, Py_ssize_t size, bint gather) except -1:
        """A publish of ``size`` bytes was written where :meth:`_place` said."""
        self._out_bytes += size
        self._held += 1
        if self._held > 1 and (self._out_bytes >= _GATHER_UP_TO or (
            self._windowed and (not gather or self._held >= _GATHER_AT_MOST)
        )):
            self.flush()
        return 0

    def flush(self):
        if self._flusher is not None:
            self._flusher.cancel()  # a no-op when it is the one running
            self._flusher = None
        cdef PyObject* raw = self._buffer
        cdef Py_ssize_t size = self._out_bytes
        cdef bint held = self._held > 0
        self._buffer = NULL
        self._room = 0
        self._held = 0
        self._out_bytes = 0
        data = None
        if raw != NULL and not held:  # room made for a publish that was never written
            Py_XDECREF(raw)
        elif raw != NULL:
            _PyBytes_Resize(&raw, size)  # cut to what it holds, in place (on failure: freed)
            data = <object>raw  # a reference of its own...
            Py_XDECREF(raw)  # ...and the writer's let go: the only one is ``data``'s
        if self._windowed:
            self.link.window_writes += 1
        self._windowed = False
        if data is not None:
            self._write(data)

    def stop(self):
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
