"""A real headless browser (Chromium) opening the decoding report: its images load, its players exist,
and a screenshot shows what a person will see. Used by `tools/check_report.py` and the tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from mt_music.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _run(arguments: list[str], timeout: float) -> str:
    browser = find_browser()
    if browser is None:
        raise UserError("no Chromium found (tools/install_system_deps.sh installs the Debian package chromium)")
    result = subprocess.run([browser, *FLAGS, *arguments], capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise UserError(f"{browser} failed ({result.returncode}): {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def rendered_counts(page: Path, timeout: float = 120) -> dict[str, int]:
    """The report's own counts after the page loaded: images loaded / failed, audio players."""
    dom = _run(["--dump-dom", Path(page).resolve().as_uri()], timeout)
    body = re.search(r"<body([^>]*)>", dom)
    attributes = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1) if body else ""))
    if not attributes:
        raise UserError(f"{page}: the page did not finish loading in the browser (no counts on <body>)")
    return {name: int(value) for name, value in attributes.items()}


def screenshot(page: Path, output: Path, width: int = 1200, height: int = 1600, timeout: float = 120) -> Path:
    _run([f"--screenshot={Path(output).resolve()}", f"--window-size={width},{height}", Path(page).resolve().as_uri()],
         timeout)
    return output
