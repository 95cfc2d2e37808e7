"""The demo: decode and re-encode every frame of a traffic mix, and say what each became.

Run with ``make demo`` (or ``python examples/demo_mix.py PATH``). Each line of the
mix is ``{"weight": <percent>, "frame": [2, id, action, payload]}``; for each frame
the codec decodes it into the typed request, the demo shows the Struct and the
bytes it re-encodes to, and checks that they equal the input as JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from ocpp_fast import codec, v201
from ocpp_fast.bench import DEFAULT_MIX as BENCH_MIX
from ocpp_fast.frames import Call

DEFAULT_MIX = BENCH_MIX  # the packaged copy of the team's weighted 2.0.1 mix


def shorten(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_MIX
    print(f"ocpp_fast codec: {codec.IMPLEMENTATION}; mix: {path}")
    same = 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        entry = msgspec.json.decode(line)
        data = msgspec.json.encode(entry["frame"])
        frame = codec.decode_frame(data, v201.VERSION)
        assert isinstance(frame, Call)
        again = codec.encode_call(frame.message_id, frame.action, frame.payload)
        equal = msgspec.json.decode(again) == entry["frame"]
        reread = codec.decode_frame(again, v201.VERSION)
        assert isinstance(reread, Call) and reread.payload == frame.payload, "value changed"
        same += equal
        print(f"\n#{number} {frame.action} (weight {entry['weight']}%)")
        print(f"  in : {shorten(data.decode())}")
        print(f"  as : {shorten(repr(frame.payload))}")
        print(f"  out: {shorten(again.decode())}")
        print(f"  {'same JSON' if equal else 'same values; date-times re-spelt (.000Z -> Z)'}")
    print(
        f"\n{len(lines)} frames decoded, validated and re-encoded to the same values;"
        f" {same} also to the same JSON text"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
