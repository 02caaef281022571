"""Headless Chromium driven over the Chrome DevTools protocol, for tests of
web pages (no Selenium: aiohttp's WebSocket client speaks the protocol).

    async with Chromium(url, profile_dir, flags) as page:
        await page.evaluate("window.asr.start()", await_promise=True)
        png = await page.screenshot()

`CHROMIUM` is the binary (Debian's `chromium` package), or None when missing.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """Chromium did not start, or a page script threw."""


class Chromium:
    """A headless Chromium showing `url`, and a DevTools session on that page.

    Args:
        url: the page to open.
        profile: an empty folder for the browser profile.
        flags: extra command-line switches.
        size: window (width, height) in CSS pixels.
    """

    def __init__(self, url: str, profile: Path, flags=(), size=(900, 640)):
        self.url, self.profile = url, Path(profile)
        self.args = [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            f"--window-size={size[0]},{size[1]}",
            *flags,
            url,
        ]
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Chromium:
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.session = aiohttp.ClientSession()
        try:
            port = await self._devtools_port()
            target = await self._page_target(port)
            self.ws = await self.session.ws_connect(
                target["webSocketDebuggerUrl"], max_msg_size=0
            )
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        if getattr(self, "ws", None) is not None:
            await self.ws.close()
        await self.session.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def _devtools_port(self, timeout: float = 30) -> int:
        marker = self.profile / "DevToolsActivePort"
        for _ in range(int(timeout / 0.1)):
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited ({self.process.returncode})")
            await asyncio.sleep(0.1)
        raise BrowserError(f"chromium gave no DevTools port in {timeout:g} s")

    async def _page_target(self, port: int) -> dict:
        for _ in range(100):
            async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
                pages = [t for t in await r.json() if t["type"] == "page"]
            for t in pages:
                if t["url"].startswith(self.url):
                    return t
            await asyncio.sleep(0.1)
        raise BrowserError(f"no page showing {self.url}")

    async def call(self, method: str, **params) -> dict:
        """One DevTools command; its result (events are skipped)."""
        ident = next(self._ids)
        await self.ws.send_str(
            json.dumps({"id": ident, "method": method, "params": params})
        )
        while True:
            msg = await self.ws.receive_json(timeout=30)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg["result"]

    async def evaluate(self, expression: str, await_promise: bool = False):
        """The value of a script in the page (as a user gesture, so audio and
        the microphone may start)."""
        result = await self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=await_promise,
            returnByValue=True,
            userGesture=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details["text"]
            raise BrowserError(f"{expression}: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30, every=0.1):
        """Polls `expression` until it is truthy; returns its value."""
        for _ in range(int(timeout / every)):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(every)
        raise BrowserError(f"{expression!r} still false after {timeout:g} s")

    async def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        result = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])


def screenshot_path() -> Path | None:
    """Where a test also saves its screenshot (`ASR_SCREENSHOT`), if set."""
    path = os.environ.get("ASR_SCREENSHOT")
    return Path(path) if path else None
