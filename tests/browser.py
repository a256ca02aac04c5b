"""Headless Chromium (Debian's ``chromium`` package) for tests that look at a page as a person
does: a PNG screenshot, the DOM after the page loaded, and what it wrote to its console.

Chromium runs with a fresh profile, no sandbox (CI runs as root), no GPU, and no background
networking, component updates, sync or QUIC: it reaches nothing but the file it opens.
When Chromium is missing the test is skipped with the command that installs it, except in CI
(``CI=true``, where .ci/run installs it) where it fails: a green CI run has looked at the page.

    python -m tests.browser docs/audit-demo.png   # the README's screenshot of the demo audit
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
TIMEOUT = 120
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\]\s*(.*)")


def chromium() -> str:
    """The browser's path; without it the test is skipped, saying how to install it (in CI,
    ``CI=true``, it fails)."""
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    why = ("chromium is not installed: the audit page's browser tests need it "
           "(Debian, as root: apt-get install chromium fonts-dejavu-core)")
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(why + "; CI installs it (.ci/run)")
    pytest.skip(why)


@dataclass
class Rendered:
    dom: str  # the DOM after load, serialised
    console: list[str]  # every console message the page produced
    png: Path


def _run(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="b12-chromium-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)


def render(page: Path, png: Path, *, width: int = 1280, height: int = 2000) -> Rendered:
    """Open ``page`` twice in a fresh browser: once for its DOM and console, once for a
    screenshot of the top ``width`` x ``height`` pixels."""
    browser = chromium()
    url = page.resolve().as_uri()
    dumped = _run(browser, "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    shot = _run(browser, f"--screenshot={png}", f"--window-size={width},{height}", url)
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-3000:]
    console = [m.group(1) for line in (dumped.stderr + shot.stderr).splitlines()
               if (m := _CONSOLE.search(line))]
    return Rendered(dumped.stdout, console, png)


def with_script(page: Path, script: str, out: Path) -> Path:
    """A copy of ``page`` that also runs ``script`` at the end of its body, allowed by its
    hash in the page's Content-Security-Policy (which lets no other script run): how a test
    clicks and measures in a page the browser only dumps."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    html = page.read_text(encoding="utf-8")
    assert html.count("script-src ") == 1
    html = html.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    out.write_text(html.replace("</body>", f"<script>{script}</script></body>", 1),
                   encoding="utf-8")
    return out


def dom(page: Path, *, width: int = 1280, height: int = 2000) -> Rendered:
    """The DOM of ``page`` after load in a ``width`` x ``height`` window, and its console
    (no screenshot)."""
    dumped = _run(chromium(), "--dump-dom", f"--window-size={width},{height}",
                  page.resolve().as_uri())
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    console = [m.group(1) for line in dumped.stderr.splitlines()
               if (m := _CONSOLE.search(line))]
    return Rendered(dumped.stdout, console, Path())


def in_frame(page: Path, script: str, out: Path, *, width: int) -> Path:
    """A page that shows ``page`` in a frame ``width`` CSS pixels wide (narrower than the
    500 pixels headless Chromium's window keeps at least) and, once the frame has loaded,
    runs ``script`` with ``frame`` (the framed page's window) in scope. The frame is the
    page's own ``srcdoc``, so the script may read it; what it finds it writes on this page's
    DOM, which the test dumps."""
    framed = html.escape(page.read_text(encoding="utf-8"), quote=True)
    out.write_text(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
        "<body style=\"margin:0\"><iframe id=\"frame\" style=\"border:0;display:block;"
        f"width:{width}px;height:40000px\" srcdoc=\"{framed}\"></iframe><script>"
        "document.getElementById('frame').addEventListener('load', function () {"
        f"var frame = this.contentWindow; {script}" "});</script></body></html>",
        encoding="utf-8")
    return out


def print_to_pdf(page: Path, pdf: Path) -> Path:
    """``page`` printed as a person prints it (A4 as the page's print styles ask, no header
    or footer added by the browser)."""
    printed = _run(chromium(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                   page.resolve().as_uri())
    assert printed.returncode == 0 and pdf.is_file(), printed.stderr[-3000:]
    return pdf


def demo_screenshot(out: Path, width: int = 1280, height: int = 3000) -> None:
    """The README's screenshot: the demo audit, top of the page, as an indexed-colour PNG."""
    from PIL import Image

    from adapter.cli import main

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "report.html"
        os.chdir(root)  # the page names its source as given: fixtures/demo
        assert main(["audit", "--source", "fixtures/demo", "--out", str(page)]) == 0
        rendered = render(page, Path(work) / "shot.png", width=width, height=height)
        assert not rendered.console, rendered.console
        image = Image.open(rendered.png).convert("RGB")
        image.quantize(colors=128).save(out, optimize=True)


if __name__ == "__main__":
    demo_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/audit-demo.png").resolve())
