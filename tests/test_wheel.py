"""The distributions: the sdist, the platform wheel and the pure-Python wheel.

The tests here are marked ``wheel`` and deselected from the default run (they build and
install for minutes): ``make wheel`` builds ``dist/`` and ``wheelhouse/`` and then runs
``pytest -m wheel tests/test_wheel.py``. They install each wheel into a fresh virtualenv
outside the source tree and run this file there as a script.

As a script (``python -I tests/test_wheel.py [cython|python]``) it checks the ``ocpp_fast``
installed for the running interpreter: imported from site-packages, the expected codec live,
frames decoded and encoded, ``py.typed`` shipped, no build leftovers (``.c``, annotation
``.html``). That is cibuildwheel's ``test-command``, run against every wheel it builds; it needs
nothing of the repository but this file.
"""

from __future__ import annotations

import datetime
import importlib.machinery
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.wheel

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
DIST = REPO / "dist"
WHEELHOUSE = REPO / "wheelhouse"

PYTHONS = ["cp311", "cp312", "cp313", "cp314", "cp314t"]
"""cibuildwheel's builds; no cp313t (see the comment in pyproject's [tool.cibuildwheel])."""
PLATFORMS = {
    "linux": [
        f"{libc}_{arch}" for libc in ("manylinux", "musllinux") for arch in ("x86_64", "aarch64")
    ],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64"],
}

BUILD_LEFTOVERS = (".c", ".html")
"""Never in a wheel: the generated C and Cython's annotation pages. The ``.pyx`` itself does
ship (package-data ``*.pyx``, which is also what keeps it in every sdist, however it was
built): a few kB of source next to the module compiled from it, which never reads it."""


# --- the script: checks the installed package of the running interpreter -------------------


def check_installed(expected: str) -> dict[str, str]:
    """Assert that the installed ``ocpp_fast`` is a working ``expected`` build; report paths."""
    import ocpp_fast
    from ocpp_fast import codec, errors, v201
    from ocpp_fast.frames import Call

    site_packages = {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}
    package = Path(ocpp_fast.__file__).resolve().parent
    assert package.parent in site_packages, f"ocpp_fast imported from {package}, not installed"
    live = codec.IMPLEMENTATION
    assert live == expected, f"the {live} codec is live, not the {expected} one"

    compiled = [
        path.name
        for path in package.iterdir()
        if path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    ]
    report = {"package": str(package), "implementation": live}
    if expected == "cython":
        from ocpp_fast import _codec_c

        module = Path(_codec_c.__file__).resolve()
        assert module.parent == package, module
        assert module.name in compiled, f"{module} is not a compiled extension module"
        report["codec_c"] = str(module)
    else:
        assert not compiled, f"compiled modules in a pure install: {compiled}"

    assert (package / "py.typed").is_file(), "py.typed missing"
    leftovers = [str(p) for p in package.rglob("*") if p.suffix in BUILD_LEFTOVERS]
    assert not leftovers, f"build leftovers installed: {leftovers}"

    call = codec.decode_frame(b'[2,"1","Heartbeat",{}]', v201.VERSION)
    assert isinstance(call, Call), call
    assert (call.message_id, call.action) == ("1", "Heartbeat")
    assert isinstance(call.payload, v201.messages.HeartbeatRequest)
    now = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.UTC)
    reply = codec.encode_call_result("1", v201.messages.HeartbeatResponse(current_time=now))
    assert reply == b'[3,"1",{"currentTime":"2026-11-24T12:00:00Z"}]', reply
    try:
        codec.decode_frame(b'[2,"2","FlyToTheMoon",{}]', v201.VERSION)
    except errors.OcppNotImplementedError as exc:
        assert exc.message_id == "2"
    else:
        raise AssertionError("an unknown action decoded")
    return report


def main(argv: list[str]) -> int:
    expected = argv[1] if len(argv) > 1 else "cython"
    # The wheel is under test, not a run-time choice of the pure codec.
    os.environ.pop("OCPP_FAST_NO_EXTENSIONS", None)
    print(json.dumps(check_installed(expected)))
    return 0


# --- the tests: build products of `make wheel` ----------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus whatever could point an interpreter at this checkout or venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        and not key.startswith(("OCPP_FAST_", "CIBW_"))
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def run(args: list[str | Path], cwd: Path, timeout: float = 600, **env: str) -> str:
    """Run a command, failing the test with its output when it fails."""
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def only(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        pytest.fail(f"expected one {directory}/{pattern}, found {found}: run `make wheel`")
    return found[0]


@pytest.fixture(scope="module")
def sdist() -> Path:
    return only(DIST, "ocpp_fast-*.tar.gz")


@pytest.fixture(scope="module")
def platform_wheel() -> Path:
    """The wheel ``python -m build`` made from the sdist, repaired by auditwheel."""
    return only(WHEELHOUSE, "ocpp_fast-*-cp3*.whl")


@pytest.fixture(scope="module")
def pure_wheel() -> Path:
    return only(DIST, "ocpp_fast-*-py3-none-any.whl")


class Venv:
    """A fresh virtualenv in ``root`` (outside the source tree), used from ``root/cwd``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root / "cwd"
        self.cwd.mkdir(parents=True)
        run([sys.executable, "-m", "venv", root / "venv"], cwd=self.cwd)
        exe = "Scripts/python.exe" if sys.platform == "win32" else "bin/python"
        self.python = root / "venv" / exe
        self.site_packages = Path(
            self.run("-c", "import sysconfig; print(sysconfig.get_path('platlib'))").strip()
        ).resolve()

    def run(self, *args: str | Path) -> str:
        return run([self.python, *args], cwd=self.cwd)

    def install(self, *requirements: str | Path) -> None:
        # pytest: the check script imports it, as in cibuildwheel's test environment.
        self.run("-m", "pip", "install", "--quiet", *requirements, "pytest")

    def check(self, expected: str, script: Path = HERE) -> dict[str, str]:
        """This file run as a script by the venv's interpreter, isolated (``-I``)."""
        out = self.run("-I", script, expected)
        report: dict[str, str] = json.loads(out.strip().splitlines()[-1])
        assert Path(report["package"]).parent == self.site_packages
        assert not Path(report["package"]).is_relative_to(REPO)
        return report


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def wheel_tags(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        text = archive.read(info).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def assert_no_leftovers(names: list[str]) -> None:
    assert "ocpp_fast/py.typed" in names
    assert "ocpp_fast/data/mix-v201.jsonl" in names  # `ocpp-fast bench` needs it installed
    leftovers = [n for n in names if n.endswith(BUILD_LEFTOVERS)]
    assert not leftovers, leftovers


def test_sdist_holds_the_sources(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "pyproject.toml",
        "setup.py",
        "src/ocpp_fast/_codec_c.pyx",
        "src/ocpp_fast/_dispatch_c.pyx",
        "src/ocpp_fast/_scan.pxi",
        "src/ocpp_fast/py.typed",
        "src/ocpp_fast/data/mix-v201.jsonl",
        "src/ocpp_fast/codec.py",
        # cibuildwheel builds from the sdist and runs this file as its test-command
        "tests/test_wheel.py",
    ):
        assert needed in names, f"{needed} missing from {sdist.name}"


def test_platform_wheel_contents(platform_wheel: Path) -> None:
    names = wheel_names(platform_wheel)
    for module in ("_codec_c", "_dispatch_c"):
        compiled = [n for n in names if n.startswith(f"ocpp_fast/{module}.") and n.endswith(".so")]
        assert len(compiled) == 1, names
    assert "ocpp_fast/_codec_c.pyx" in names  # see BUILD_LEFTOVERS
    assert_no_leftovers(names)
    tags = wheel_tags(platform_wheel)
    assert tags and all("manylinux" in tag for tag in tags), tags


def test_pure_wheel_contents(pure_wheel: Path) -> None:
    names = wheel_names(pure_wheel)
    assert wheel_tags(pure_wheel) == ["py3-none-any"]
    assert not [n for n in names if n.endswith((".so", ".pyd"))], names
    assert_no_leftovers(names)


def test_platform_wheel_in_a_fresh_venv(platform_wheel: Path, tmp_path: Path) -> None:
    venv = Venv(tmp_path)
    venv.install(platform_wheel)
    report = venv.check("cython")
    assert Path(report["codec_c"]).parent.parent == venv.site_packages
    # The compiled module does not need its source: still the same without the installed .pyx.
    (Path(report["package"]) / "_codec_c.pyx").unlink()
    assert venv.check("cython") == report


def test_pure_wheel_in_a_fresh_venv(pure_wheel: Path, tmp_path: Path) -> None:
    venv = Venv(tmp_path)
    venv.install(pure_wheel)
    venv.check("python")


def test_the_installed_command_benchmarks_from_an_empty_directory(
    platform_wheel: Path, tmp_path: Path
) -> None:
    """The mix ships as package data: ``ocpp-fast bench`` needs no checkout (without the
    ``ocpp`` package, its columns say so instead of failing)."""
    venv = Venv(tmp_path)
    venv.install(platform_wheel)
    command = venv.python.parent / ("ocpp-fast.exe" if sys.platform == "win32" else "ocpp-fast")
    out = run([command, "bench", "--quick"], cwd=venv.cwd)
    assert "weighted" in out and "a/d = " in out
    assert "(c) ocpp 2.1.0 ChargePoint.route_message, ASYNC_VALIDATION=False: not run" in out


def test_sdist_alone_builds_a_working_wheel(sdist: Path, tmp_path: Path) -> None:
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    source = only(tmp_path / "unpacked", "ocpp_fast-*")
    out = tmp_path / "out"
    run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", out, source],
        cwd=tmp_path,
        OCPP_FAST_REQUIRE_EXTENSIONS="1",
    )
    venv = Venv(tmp_path / "env")
    venv.install(only(out, "ocpp_fast-*-cp3*.whl"))
    # the sdist's own copy of this file, as cibuildwheel's test-command runs it
    venv.check("cython", script=source / "tests" / "test_wheel.py")


def test_cibuildwheel_configuration() -> None:
    config: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    cibw = config["tool"]["cibuildwheel"]
    assert cibw["environment"]["OCPP_FAST_REQUIRE_EXTENSIONS"] == "1"
    assert "tests/test_wheel.py" in cibw["test-command"]


@pytest.mark.parametrize("source", ["checkout", "sdist"])
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_cibuildwheel_build_identifiers(
    platform: str, source: str, sdist: Path, tmp_path: Path
) -> None:
    """What cibuildwheel builds, configured by the checkout or (as in CI) by the sdist."""
    command: list[str | Path] = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers"]
    command += ["--platform", platform]
    if source == "sdist":
        out = run([*command, sdist], cwd=tmp_path, timeout=120)
    else:
        out = run(command, cwd=REPO, timeout=120)
    expected = {f"{py}-{plat}" for py in PYTHONS for plat in PLATFORMS[platform]}
    assert set(out.split()) == expected


if __name__ == "__main__":
    sys.exit(main(sys.argv))
