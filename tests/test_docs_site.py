"""The built documentation site, opened in a real browser: headless Chromium over DevTools.

The site (``make docs`` builds it into build/site; this test builds it when it is missing) is
served on 127.0.0.1 and opened in Chromium, driven through the DevTools protocol with the
``websockets`` package. The home page, an API page and a guide must render with the theme, and
the site's own search (a web worker over the search index, which needs HTTP, not file://) must
find ``TransactionEvent`` and ``StationNotConnected``. Screenshots go to build/screenshots (CI
keeps them as artifacts). Skipped only where no Chromium is installed: ``make test`` installs
Debian's ``chromium`` where it runs as root on Debian, as CI does.
"""

from __future__ import annotations

import base64
import functools
import http.server
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docs_site import ROOT, built_site
from websockets.sync.client import ClientConnection, connect

SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = next(
    (
        path
        for path in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
        if path and os.access(path, os.X_OK)
    ),
    None,
)
"""Debian's chromium; ``CHROMIUM=/path/to/chrome`` names another build (GitHub's runners)."""
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")


class Page:
    """One browser tab, spoken to over the DevTools protocol: commands and their events."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(event)
            self.events.append(json.loads(self.socket.recv(timeout=remaining)))

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"])
        return answer["result"].get("value")

    def until(self, expression: str, timeout: float = 30) -> Any:
        """Poll ``expression`` until it is truthy (the page works asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = self.send("Page.captureScreenshot", format="png")
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(built_site()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert CHROMIUM is not None
    # Chromium's helper processes may still write the profile a moment after the browser
    # exits: its removal must not fail the last test of the module.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--window-size=1280,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not active.is_file() or len(active.read_text().split()) < 2:
                assert browser.poll() is None, "chromium exited at start-up"
                assert time.monotonic() < deadline, "chromium opened no DevTools port"
                time.sleep(0.1)
            port = active.read_text().split()[0]
            with connect(f"ws://127.0.0.1:{port}{active.read_text().split()[1]}") as root:
                target = Page(root).send("Target.createTarget", url="about:blank")["targetId"]
            with connect(f"ws://127.0.0.1:{port}/devtools/page/{target}", max_size=None) as socket:
                tab = Page(socket)
                tab.send("Page.enable")
                tab.send("Runtime.enable")
                yield tab
        finally:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()


H1 = "document.querySelector('.md-content h1').textContent.replace('\u00b6', '').trim()"
"""The page's title, without the permalink sign."""

THEMED = "getComputedStyle(document.querySelector('.md-header')).backgroundColor"
"""Material's header colour: transparent unless the theme's stylesheet loaded."""


def test_home_page_renders(page: Page, site_url: str) -> None:
    page.open(site_url)
    assert page.evaluate(H1) == "ocpp_fast"
    assert page.evaluate(THEMED) not in ("", "rgba(0, 0, 0, 0)")
    nav = page.evaluate("document.querySelector('.md-nav--primary').innerText")
    for section in ("Getting started", "How-to guides", "Reference", "Explanation"):
        assert section in nav
    assert page.evaluate("document.querySelectorAll('.md-content pre code').length") >= 1
    page.screenshot("home")


def test_api_page_renders(page: Page, site_url: str) -> None:
    page.open(site_url + "reference/api/ocpp_fast.transport.server/")
    assert page.evaluate(H1) == "ocpp_fast.transport.server"
    headings = page.evaluate(
        "[...document.querySelectorAll('.doc-heading')].map(h => h.innerText).join('\\n')"
    )
    assert "serve" in headings and "StationRequest" in headings
    assert page.evaluate("document.getElementById('ocpp_fast.transport.server.serve') !== null"), (
        "no heading of serve()"
    )
    assert "security_profile" in page.evaluate("document.querySelector('.md-content').innerText")
    page.screenshot("api-transport-server")


def test_guide_renders(page: Page, site_url: str) -> None:
    page.open(site_url + "how-to/tls/")
    assert page.evaluate(H1) == "TLS and security profiles"
    text = page.evaluate("document.querySelector('.md-content').innerText")
    assert "Behind a TLS-terminating proxy (nginx)" in text and "proxy_set_header" in text
    assert page.evaluate("document.querySelectorAll('.md-content table').length") >= 2
    page.screenshot("guide-tls")


@pytest.mark.parametrize("term", ["TransactionEvent", "StationNotConnected"])
def test_search_finds(page: Page, site_url: str, term: str) -> None:
    page.open(site_url)
    page.until("document.querySelector('.md-search__input') !== null")
    page.evaluate("document.querySelector('.md-search__input').focus()")
    page.send("Input.insertText", text=term)
    page.evaluate(
        "const box = document.querySelector('.md-search__input');"
        "box.dispatchEvent(new KeyboardEvent('keyup', {key: 'n'})); true"
    )
    found = page.until(
        "[...document.querySelectorAll('.md-search-result__item')]"
        ".map(item => item.innerText).join('\\n')",
        timeout=60,
    )
    assert term in found, f"search for {term}: {found!r}"
    page.screenshot(f"search-{term}")
