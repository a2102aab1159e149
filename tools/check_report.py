#!/usr/bin/env python
"""Opens a decoding report (`python -m mt_music.decode … --report page.html`) in headless Chromium.

    python tools/check_report.py out/report.html --screenshot out/report.png

Prints the counts the page reports once loaded (images loaded / failed, audio players) and writes
a screenshot; exit status 1 when an image failed to load.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mt_music.errors import ArgumentParser, check_input_file, check_output_file, main_with_errors
from mt_music.inference import browser


def main(argv=None) -> int:
    parser = ArgumentParser(prog="tools/check_report.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="the HTML report")
    parser.add_argument("--screenshot", default=None, help="PNG to write (default: next to the report)")
    args = parser.parse_args(argv)
    page = check_input_file(args.report, "REPORT")
    shot = check_output_file(args.screenshot or page.with_suffix(".png"), "--screenshot")
    counts = browser.rendered_counts(page)
    browser.screenshot(page, Path(shot))
    print(f"{page}: {counts.get('images-loaded', 0)} images loaded, {counts.get('images-failed', 0)} failed, "
          f"{counts.get('audio', 0)} audio players; screenshot {shot}")
    return 1 if counts.get("images-failed", 0) else 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
