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
    for mix in ("mix-v201", "mix-v16", "mix-v21"):  # `ocpp-fast bench [--version V]` needs it
        assert f"ocpp_fast/data/{mix}.jsonl" in names
    for model in ("device-model-v2x", "configuration-v16"):  # the simulated stations' settings
        assert f"ocpp_fast/data/{model}.jsonl" in names
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
        "src/ocpp_fast/_dispatch_c.pxd",  # cimported by cluster/_link_bytes_c.pyx
        "src/ocpp_fast/cluster/_link_bytes_c.pyx",
        "src/ocpp_fast/cluster/_blake2b.pxi",
        "src/ocpp_fast/cluster/_stores.pxi",
        "src/ocpp_fast/_scan.pxi",
        "src/ocpp_fast/py.typed",
        "src/ocpp_fast/data/mix-v201.jsonl",
        "src/ocpp_fast/data/mix-v16.jsonl",
        "src/ocpp_fast/data/mix-v21.jsonl",
        "src/ocpp_fast/codec.py",
        # cibuildwheel builds from the sdist and runs this file as its test-command
        "tests/test_wheel.py",
    ):
        assert needed in names, f"{needed} missing from {sdist.name}"


def test_platform_wheel_contents(platform_wheel: Path) -> None:
    names = wheel_names(platform_wheel)
    for module in ("_codec_c", "_dispatch_c", "cluster/_link_bytes_c"):
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


PROJECT_URLS = ("Homepage", "Documentation", "Source", "Issues", "Changelog")


def metadata_of(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(info).decode()


@pytest.mark.parametrize("kind", ["platform", "pure"])
def test_wheel_metadata_has_the_project_urls_and_the_readme(kind: str) -> None:
    if kind == "platform":
        wheel = only(WHEELHOUSE, "ocpp_fast-*-cp3*.whl")
    else:
        wheel = only(DIST, "ocpp_fast-*-py3-none-any.whl")
    metadata = metadata_of(wheel)
    config: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for name in PROJECT_URLS:
        url = config["project"]["urls"][name]
        assert f"Project-URL: {name}, {url}" in metadata.splitlines(), (name, metadata[:2000])
    assert "Description-Content-Type: text/markdown" in metadata.splitlines()
    header, _, body = metadata.partition("\n\n")
    assert body.strip() == (REPO / "README.md").read_text(encoding="utf-8").strip()
    import ocpp_fast

    assert f"Version: {ocpp_fast.__version__}" in header.splitlines()  # the one version


def test_twine_check_passes_on_every_distribution(
    sdist: Path, platform_wheel: Path, pure_wheel: Path
) -> None:
    """PyPI renders the README as the long description: ``twine check --strict`` is clean."""
    out = run(
        [sys.executable, "-m", "twine", "check", "--strict", sdist, platform_wheel, pure_wheel],
        cwd=REPO,
    )
    assert out.count("PASSED") == 3, out
    assert "WARNING" not in out and "ERROR" not in out, out


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


# --- each extra installed alone ---------------------------------------------------------------


def serve_starts(command: list[str | Path], cwd: Path) -> str:
    """``command`` (an ``ocpp-fast serve`` on a free port) started, its first line read, then
    stopped with Ctrl-C: it must say where it serves and end without a traceback."""
    import signal
    import time

    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        time.sleep(0.5)  # its Ctrl-C handler is installed just after that line
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert " info demo CSMS on ws://127.0.0.1:" in first, (first, err)
    assert "Traceback" not in err, err
    assert process.returncode == 0, err
    return first


def missing_extra(venv: Venv, statement: str) -> str:
    """The ImportError message ``statement`` raises in ``venv``."""
    script = f"try:\n    {statement}\nexcept ImportError as exc:\n    print(exc)\n"
    return venv.run("-c", script).strip()


METRICS_SCRAPE = """
import urllib.request
from ocpp_fast.metrics import Metrics
metrics = Metrics()
metrics.refused("unauthorized")
port = metrics.serve_http(0)
page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
metrics.stop_http()
print(page)
"""


@pytest.mark.parametrize("extra", ["", "picows", "websockets", "metrics", "cluster", "compat"])
def test_each_extra_works_installed_alone(platform_wheel: Path, tmp_path: Path, extra: str) -> None:
    """``pip install "ocpp-fast[X]"`` alone: X's entry point runs, and every other extra's
    absence is an ImportError naming the ``pip install`` to run."""
    venv = Venv(tmp_path)
    venv.install(f"{platform_wheel}[{extra}]" if extra else platform_wheel)
    command = venv.python.parent / ("ocpp-fast.exe" if sys.platform == "win32" else "ocpp-fast")
    venv.run("-c", "from ocpp_fast.transport import Limits, connect, serve")
    if extra in ("picows", "websockets"):
        serve_starts([command, "serve", "--port", "0", "--quiet"], venv.cwd)
        serve_starts([command, "serve", "--port", "0", "--quiet", "--backend", extra], venv.cwd)
        other = "websockets" if extra == "picows" else "picows"
        refused = subprocess.run(
            [str(command), "serve", "--port", "0", "--backend", other],
            cwd=venv.cwd,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2
        assert f'pip install "ocpp-fast[{other}]"' in refused.stderr
        assert "Traceback" not in refused.stderr
    elif extra == "metrics":
        page = venv.run("-c", METRICS_SCRAPE)
        assert 'ocpp_handshakes_refused_total{reason="unauthorized"} 1.0' in page
    elif extra == "cluster":
        assert "--nats" in run([command, "worker", "--help"], cwd=venv.cwd)
        venv.run("-c", "from ocpp_fast.cluster import ClusterClient, Gateway, Worker")
    elif extra == "compat":
        venv.run("-c", "import ocpp_fast.compat; ocpp_fast.compat.install()")
    if extra not in ("picows", "websockets"):  # no WebSocket library: serve says what to install
        message = missing_extra(
            venv, "from ocpp_fast.transport.backend import resolve; resolve(None)"
        )
        assert message.endswith('pip install "ocpp-fast[picows]"'), message
    for module, its_extra in (
        ("ocpp_fast.metrics", "metrics"),
        ("ocpp_fast.cluster", "cluster"),
        ("ocpp_fast.compat", "compat"),
    ):
        if its_extra != extra:
            message = missing_extra(venv, f"import {module}")
            assert message.endswith(f'pip install "ocpp-fast[{its_extra}]"'), message
