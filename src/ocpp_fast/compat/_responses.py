"""The drop-in's ``_response_queue``: responses to its ``call()`` matched by id, kept as
``ocpp`` keeps them for a backend that reads the queue itself."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["Responses"]

_UNMATCHED_KEPT = 16
"""Responses with no call waiting that are kept for a ``call()`` about to wait on their id."""


class Responses(asyncio.Queue[Any]):
    """The drop-in's own ``_response_queue``, for backends that route frames themselves.

    A ``route_message`` written whole (``unpack``, then ``_handle_call`` for a CALL
    and ``self._response_queue.put_nowait(msg)`` for a response, as ``ocpp``'s own
    does) puts responses here; each goes to the ``call()`` waiting on its id, as
    the drop-in's own routing hands them, instead of waiting in a queue nobody reads.
    A backend may read it too, as ``ocpp``'s ``_get_specific_response`` does (an override
    of its own that calls no ``super()``): while one awaits :meth:`get`, responses are put
    here for it instead, as ``ocpp`` puts them. A response no call of ours takes (of an
    unknown id, or read by such an override) stays here, as in ``ocpp``'s queue, so
    ``qsize()`` and ``get_nowait()`` find it; only the last :data:`_UNMATCHED_KEPT` are
    kept (``ocpp``'s grows while no call reads it). A queue the backend put in
    ``_response_queue`` itself (any other object) is used as ``ocpp`` uses it instead.
    """

    def __init__(self, deliver: Any) -> None:
        super().__init__()
        self._deliver_to = deliver
        self._readers = 0

    def _init(self, maxsize: int) -> None:
        # asyncio.Queue's own storage, by the name its qsize() and empty() read, typed here
        self._queue: deque[Any] = deque()

    def _put(self, item: Any) -> None:
        self._queue.append(item)

    def _get(self) -> Any:
        return self._queue.popleft()

    def put_nowait(self, item: Any) -> None:
        if self._readers or not self._deliver_to(item):
            super().put_nowait(item)
            if not self._readers and len(self._queue) > _UNMATCHED_KEPT:
                self._queue.popleft()

    def take(self, unique_id: Any) -> Any:
        """The first response kept of ``unique_id``, taken out; None if none is."""
        for response in self._queue:
            if response.unique_id == unique_id:
                self._queue.remove(response)
                return response
        return None

    async def get(self) -> Any:
        self._readers += 1
        try:
            return await super().get()
        finally:
            self._readers -= 1
