"""report.html with the doctor's section, opened in headless Chromium: it loads without a
console error, every image decodes with a non-zero size, the verdict is on the page, and a
screenshot is taken.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in a NUL byte, commands on the browser's fd 3, replies on its fd 4) — no port,
no websocket library. ``scripts/test.sh`` installs Debian's ``chromium`` when it is missing;
only where that is impossible is the test skipped, with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from lagnet.cli import app
from lagnet.config import make_config
from lagnet.runs import run

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
    "--remote-debugging-pipe",
]
PAGE_CHECK = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return JSON.stringify({
    images: imgs.map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth,
                            h: i.naturalHeight})),
    text: document.body.innerText});
})()"""


def _chromium() -> tuple[str | None, str]:
    """A Chromium that starts here, or None and why not. A binary that cannot start (a snap
    stub without snapd, missing libraries) counts as none: the page cannot be tested there."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if not found:
            continue
        try:
            probe = subprocess.run(
                [found, "--headless", "--no-sandbox", "--version"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"{found} does not start ({err})"
        if probe.returncode != 0:
            return None, f"{found} does not start: {(probe.stdout + probe.stderr).strip()[:200]}"
        return found, ""
    return None, (
        "no Chromium here and scripts/test.sh could not install Debian's chromium "
        "package (no apt-get, or no root/sudo)"
    )


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: str, log):
        to_browser, self._w = os.pipe()
        self._r, from_browser = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. bash puts our pipe
        # ends there (from fds ≥ 10, so the moves cannot clobber each other) and execs it.
        a, b = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser))
        os.close(to_browser)
        os.close(from_browser)
        shell = f'exec "$@" 3<&{a} 4>&{b} {a}<&- {b}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", shell, "bash", binary, *FLAGS, f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(a, b),
        )
        os.close(a)
        os.close(b)
        self._next, self._buffer, self.events = 0, b"", []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, EOFError):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


def console_errors(events: list[dict]) -> list[str]:
    """Uncaught exceptions, console.error/assert calls and error log entries."""
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            out.append(json.dumps(p.get("exceptionDetails", {}))[:300])
        elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(json.dumps(p.get("args", []))[:300])
        elif e.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"{p['entry'].get('text')} ({p['entry'].get('url')})")
    return out


@pytest.fixture(scope="module")
def doctored(tmp_path_factory):
    """A tiny window model on a lag-3 target, doctored through the CLI (plots and report)."""
    if _chromium()[0] is None:  # decide before training anything
        pytest.skip(_chromium()[1])
    path = tmp_path_factory.mktemp("browser") / "run"
    cfg = make_config(
        dict(
            process="iid(dist='normal')",
            target=dict(formula="x[t]**2 + 0.5*x[t-3]**2"),
            model=dict(kind="window", window=2, hidden=8, head=[16]),
            train=dict(steps=40, batch=32, length=24, val_every=20, val_paths=64, pilot_paths=64),
            eval=dict(test_paths=100, baseline_paths=200, long_paths=8, long_factor=4),
        )
    )
    run(cfg, path)
    res = CliRunner().invoke(app, ["doctor", str(path), "--quick"])
    assert res.exit_code == 0, res.output
    return path, json.loads((path / "doctor.json").read_text())


@pytest.mark.slow
def test_report_with_doctor_section_loads_in_chromium(doctored, tmp_path):
    binary, why = _chromium()
    if binary is None:
        pytest.skip(why)
    path, doc = doctored
    log = open(tmp_path / "chromium.log", "wb")  # noqa: SIM115 — closed in the finally below
    browser = DevTools(binary, str(tmp_path / "profile"), log)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Page.navigate", {"url": (path / "report.html").resolve().as_uri()}, session=session
        )
        browser.wait_for("Page.loadEventFired")
        page = json.loads(
            browser.send(
                "Runtime.evaluate",
                {"expression": PAGE_CHECK, "awaitPromise": True, "returnByValue": True},
                session=session,
            )["result"]["value"]
        )
        size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], 16000),
                    "scale": 1,
                },
            },
            session=session,
        )
        errors = console_errors(browser.events)
    finally:
        browser.close()
        log.close()

    assert errors == [], errors
    images = page["images"]
    # The five standard plots and the doctor's oracle, gradient and long-horizon plots (a
    # window model has no hidden state, so no probe).
    assert len(images) == 8, images
    assert sum(i["alt"].startswith("doctor") for i in images) == 3
    assert all(i["complete"] and i["w"] > 100 and i["h"] > 100 for i in images), images
    assert "Doctor" in page["text"]
    assert doc["verdict"]["cause"] in page["text"]
    assert doc["verdict"]["primary"] == "receptive_field"
    png = tmp_path / "report.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    img = imread(png)
    assert img.shape[0] > 1000 and img.shape[1] > 500
