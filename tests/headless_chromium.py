"""A real headless Chromium (Debian's ``chromium``, envs/apt-packages.txt) driven over the DevTools protocol, for tests
that look at a page: open a URL, run JavaScript, take screenshots. The protocol's websocket client is ``websockets``
(a dependency of viser). Every host but 127.0.0.1 resolves to nothing, so a page that needs the internet shows it."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--use-angle=swiftshader",  # WebGL (viser's canvas) on the CPU
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # offline: only this machine answers
]


def chromium() -> str | None:
    """The Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessChromium:
    """``with HeadlessChromium(folder) as browser:`` a fresh profile in ``folder``, one page of ``width`` x ``height``
    CSS pixels; the browser (its process group) is ended by its process id when the block ends."""

    def __init__(self, folder: Path, width: int = 1000, height: int = 700, timeout: float = 60.0):
        self.folder, self.size, self.timeout = Path(folder), (width, height), timeout
        self.process: subprocess.Popen | None = None
        self.socket = None
        self._ids = itertools.count(1)

    def __enter__(self) -> HeadlessChromium:
        executable = chromium()
        if executable is None:
            raise FileNotFoundError("chromium is not installed (envs/apt-packages.txt; apt-get install chromium)")
        profile = self.folder / "profile"
        profile.mkdir(parents=True)
        command = [
            executable,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        self.log = open(self.folder / "chromium.log", "wb")  # noqa: SIM115  (closed in __exit__)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._connect(profile)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _connect(self, profile: Path) -> None:
        from websockets.sync.client import connect

        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start: {self.log_text()[-3000:]}")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        page = next(target for target in targets if target["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1], deviceScaleFactor=1,
                  mobile=False)  # fmt: skip

    def log_text(self) -> str:
        self.log.flush()
        return (self.folder / "chromium.log").read_text(errors="replace")

    def call(self, method: str, **params):
        """One DevTools command; its result (events in between are skipped)."""
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=self.timeout))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"chromium: {expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> np.ndarray:
        """The page as (height, width, 3) uint8."""
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def __exit__(self, *exc) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):  # the browser may be gone already
                self.socket.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the browser and its helper processes, by its id
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.log.close()
