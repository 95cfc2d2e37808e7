"""Build script: compiles the Cython hot paths (the frame codec, the dispatch path) when it can.

``OCPP_FAST_NO_EXTENSIONS=1`` skips the extension (pure-Python install).
Without a working compiler the build falls back to pure Python too, unless
``OCPP_FAST_REQUIRE_EXTENSIONS=1`` (wheel builds) makes that failure fatal.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


class OptionalBuildExt(build_ext):
    """A build_ext whose failure leaves a working pure-Python package."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # compiler missing, Cython missing, ...
            self._give_up(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        if _flag("OCPP_FAST_REQUIRE_EXTENSIONS"):
            raise exc
        print(f"ocpp_fast: building the compiled codec failed ({exc}); installing pure Python",
              file=sys.stderr)


def extensions() -> list[Extension]:
    if _flag("OCPP_FAST_NO_EXTENSIONS") or sys.implementation.name != "cpython":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        if _flag("OCPP_FAST_REQUIRE_EXTENSIONS"):
            raise
        print(f"ocpp_fast: Cython unavailable ({exc}); installing pure Python", file=sys.stderr)
        return []
    return cythonize(
        [
            Extension("ocpp_fast._codec_c", ["src/ocpp_fast/_codec_c.pyx"]),
            Extension("ocpp_fast._dispatch_c", ["src/ocpp_fast/_dispatch_c.pyx"]),
            Extension("ocpp_fast.cluster._link_bytes_c", ["src/ocpp_fast/cluster/_link_bytes_c.pyx"]),
        ],
        include_path=["src"],  # cluster/_link_bytes_c cimports ocpp_fast._dispatch_c (its .pxd)
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
