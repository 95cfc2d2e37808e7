# What other compiled modules reach of the dispatch path in C (a cimport, no Python call):
# a gated CALL's waiter, and the base of a gate's start. The cluster's link
# (cluster/_link_bytes_c.pyx) starts a durable CALL's store and completes its Gated by C
# calls through these; anything else (the pure twins, a user's gate) goes through Python
# calls as before. And the reading of an attribute at its slot's offset, which the link's
# store shares (the link's connection and its writer, read per store).

from cpython.object cimport PyObject


cdef Py_ssize_t _slot_offset(object kind, str name) except -2


cdef inline PyObject* _at_slot(object obj, Py_ssize_t offset) noexcept:
    """What ``obj`` holds at its slot's ``offset`` (borrowed; NULL: no slot there, ``offset``
    -1, or a slot never set), for the readers below to fall back on a look-up."""
    if offset < 0:
        return NULL
    return (<PyObject**>((<char*><PyObject*>obj) + offset))[0]


cdef inline object _get(object obj, Py_ssize_t offset, str name):
    """``obj.<name>``, read at its slot's ``offset`` (``_slot_offset``) where there is one (a
    slot never set: the look-up, which raises AttributeError as Python would)."""
    cdef PyObject* held = _at_slot(obj, offset)
    if held != NULL:
        return <object>held
    return getattr(obj, name)


cdef inline object _get_or_none(object obj, Py_ssize_t offset, str name):
    """``getattr(obj, name, None)``, read at its slot's ``offset`` where there is one."""
    cdef PyObject* held = _at_slot(obj, offset)
    if held != NULL:
        return <object>held
    return getattr(obj, name, None)


cdef class Gated:
    cdef object dispatch  # the FastDispatch that started it
    cdef object connection
    cdef object context
    cdef tuple fields
    cdef readonly str message_id  # readable from Python, as the pure twin's: the sweep of
    cdef readonly object identity  # slow handlers names a gated CALL by them
    cdef readonly object action
    cdef object request
    cdef bytes raw_id
    cdef object ack
    cdef double started
    cdef bint done
    cdef object reply  # a handler-first gate's: the answer built, written once the gate is through
    cdef object result  # ... or what its handler returned that the path does not vouch for
    cdef object error  # ... or what its handler raised

    cdef void fire(self, object ack, bint cancelled) except *
    cdef void _release(self) except *
    cdef void _let_go(self) except *


cdef class GateStart:
    cdef object begin(self, object action, object request, object payload, object context,
                      Gated gated)
    cdef bint follow(self, object ack, Gated gated) except -1
    cdef int check(self, object ack, object action, object context) except -1
