"""permessage-deflate (RFC 7692) against an independent implementation: the websockets library's.

Negotiation both ways (our server's answer accepted by its client factory, its
client's offer accepted by our server), messages both ways with and without
context takeover, over many messages, large ones and fragmented ones, and a
compression bomb refused after at most the limit plus one byte of inflation.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CONT as OP_CONT
from websockets.frames import TEXT as OP_TEXT
from websockets.frames import Frame

from ocpp_fast.transport.deflate import (
    DeflateConfig,
    DeflateParams,
    MessageDeflate,
    MessageTooBig,
    NegotiationError,
    accept_offer,
    accept_response,
    client_offer,
    parse_extensions,
)

MIB = 2**20


def _params_text(params: Sequence[tuple[str, str | None]]) -> str:
    return "; ".join(["permessage-deflate"] + [k if v is None else f"{k}={v}" for k, v in params])


@pytest.mark.parametrize(
    "factory",
    [
        ClientPerMessageDeflateFactory(),
        ClientPerMessageDeflateFactory(client_max_window_bits=True),
        ClientPerMessageDeflateFactory(client_max_window_bits=10),
        ClientPerMessageDeflateFactory(server_max_window_bits=11),
        ClientPerMessageDeflateFactory(server_no_context_takeover=True),
        ClientPerMessageDeflateFactory(client_no_context_takeover=True),
    ],
)
def test_our_server_answers_what_a_websockets_client_accepts(
    factory: ClientPerMessageDeflateFactory,
) -> None:
    offer = _params_text(factory.get_request_params())
    agreed = accept_offer([offer])
    assert agreed is not None
    answer = parse_extensions([agreed.header()])[0][1]
    extension = factory.process_response_params(answer, [])
    assert isinstance(extension, PerMessageDeflate)
    assert extension.local_max_window_bits == agreed.client_max_window_bits
    assert extension.remote_max_window_bits == agreed.server_max_window_bits
    if "client_max_window_bits" not in offer:
        assert agreed.client_max_window_bits == 15  # never imposed on a client that did not offer


def test_our_client_offer_and_a_websockets_server_agree() -> None:
    server = ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12)
    offer = parse_extensions([client_offer()])[0][1]
    answer, extension = server.process_request_params(offer, [])
    params = accept_response([_params_text(answer)])
    assert params == DeflateParams(server_max_window_bits=12, client_max_window_bits=12)
    assert isinstance(extension, PerMessageDeflate)


@pytest.mark.parametrize(
    "header",
    [
        "permessage-deflate; server_max_window_bits=8",  # zlib cannot: declined
        "permessage-deflate; server_max_window_bits",  # needs a value
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; what=1",
        "x-webkit-deflate-frame",
        "permessage-deflate; ;",
    ],
)
def test_unacceptable_offers_are_declined(header: str) -> None:
    assert accept_offer([header]) is None


def test_the_first_acceptable_offer_wins() -> None:
    unacceptable = "permessage-deflate; server_max_window_bits=8"
    agreed = accept_offer([f"{unacceptable}, permessage-deflate; client_no_context_takeover"])
    assert agreed == DeflateParams(client_no_context_takeover=True)


@pytest.mark.parametrize(
    "header",
    [
        "permessage-deflate, permessage-deflate",
        "x-other",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=8",
        'permessage-deflate; server_max_window_bits="99"',
    ],
)
def test_a_client_fails_on_a_bad_response(header: str) -> None:
    with pytest.raises(NegotiationError):
        accept_response([header])


def _peer(params: DeflateParams, *, peer_is_client: bool) -> PerMessageDeflate:
    """The websockets side of a connection with these parameters."""
    if peer_is_client:
        return PerMessageDeflate(
            remote_no_context_takeover=params.server_no_context_takeover,
            local_no_context_takeover=params.client_no_context_takeover,
            remote_max_window_bits=params.server_max_window_bits,
            local_max_window_bits=params.client_max_window_bits,
        )
    return PerMessageDeflate(
        remote_no_context_takeover=params.client_no_context_takeover,
        local_no_context_takeover=params.server_no_context_takeover,
        remote_max_window_bits=params.client_max_window_bits,
        local_max_window_bits=params.server_max_window_bits,
    )


PARAMS = [
    DeflateParams(),
    DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
    DeflateParams(server_max_window_bits=10, client_max_window_bits=9),
    DeflateParams(client_no_context_takeover=True, server_max_window_bits=12),
]


def _messages(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    frames = [
        b'[2,"%d","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"2026-11-30T10:00:00Z",'
        b'"sampledValue":[{"value":%d.5}]}]}]' % (i, rng.randrange(10**6))
        for i in range(40)
    ]
    frames.append(bytes(rng.randrange(256) for _ in range(70_000)))  # incompressible
    frames.append(b"[" + b'"abc",' * 200_000 + b'"x"]')  # 1.2 MB, compressible
    frames.append(b"")
    return frames


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("we_are_server", [True, False])
def test_messages_both_ways_with_websockets(params: DeflateParams, we_are_server: bool) -> None:
    ours = MessageDeflate(params, is_server=we_are_server)
    theirs = _peer(params, peer_is_client=we_are_server)
    for message in _messages(7):
        sent = theirs.encode(Frame(OP_TEXT, message))
        assert sent.rsv1
        assert ours.decompress(memoryview(bytes(sent.data)), 4 * MIB) == message
        back = Frame(OP_TEXT, ours.compress(message), rsv1=True)
        assert theirs.decode(back, max_size=4 * MIB).data == message


def test_a_fragmented_message_inflates_from_its_joined_payloads() -> None:
    params = DeflateParams()
    theirs = _peer(params, peer_is_client=True)
    ours = MessageDeflate(params, is_server=True)
    message = b'[2,"1","DataTransfer",{"vendorId":"V","data":"' + b"z" * 50_000 + b'"}]'
    # websockets compresses each frame of a fragmented message in turn, RSV1 on the first
    fragmented = [theirs.encode(Frame(OP_TEXT, message[:20_000], fin=False))]
    fragmented.append(theirs.encode(Frame(OP_CONT, message[20_000:], fin=True)))
    assert fragmented[0].rsv1 and not fragmented[1].rsv1
    assert ours.decompress(b"".join(f.data for f in fragmented), MIB) == message


def test_a_compression_bomb_is_refused_after_the_limit() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(b"\0" * (200 * MIB)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(payload) < 300_000
    ours = MessageDeflate(DeflateParams(), is_server=True)
    with pytest.raises(MessageTooBig):
        ours.decompress(payload[:-4], MIB)


def test_corrupt_data_is_a_zlib_error() -> None:
    with pytest.raises(zlib.error):
        MessageDeflate(DeflateParams(), is_server=True).decompress(b"\xff\xff\xff", MIB)


def test_our_compressor_keeps_a_small_window() -> None:
    """A 4 KiB window by default: far back repeats are not found, near ones are."""
    ours = MessageDeflate(DeflateParams(), is_server=True, config=DeflateConfig(window_bits=9))
    rng = random.Random(1)
    block = bytes(rng.randrange(256) for _ in range(2000))
    far = ours.compress(block + bytes(rng.randrange(256) for _ in range(4000)) + block)
    near = MessageDeflate(DeflateParams(), is_server=True).compress(block + block)
    assert len(far) > 7000 and len(near) < 2200
