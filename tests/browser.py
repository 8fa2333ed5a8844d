"""Headless Chromium for the tests of bertclf's pages: a screenshot, the console and the DOM."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest


@dataclasses.dataclass
class Rendered:
    pixels: "object"  # the screenshot, as matplotlib reads it (height, width, channels)
    console: list[str]  # console messages and refused resources: an error on the page shows here
    dom: str  # the DOM after the page loaded
    log: str


def render(page: Path, work: Path, width: int = 1280, height: int = 2400) -> Rendered:
    """Opens `page` in headless Chromium; skips (a failure in CI) when no Chromium is installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; .ci/run installs it)")
    import matplotlib.image

    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={work / 'profile'}", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
    url = page.resolve().as_uri()
    shot = work / f"{page.stem}.png"
    rendered = subprocess.run(flags + [f"--window-size={width},{height}", f"--screenshot={shot}", url],
                              capture_output=True, text=True, timeout=120)
    assert shot.is_file(), rendered.stderr[-2000:]
    console = [line for line in rendered.stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    return Rendered(matplotlib.image.imread(shot), console, dom, rendered.stderr)
