#!/usr/bin/env python
"""Conformance checks on a built corpus sample (see mt_music/corpus/checks.py).

    python tools/check_corpus.py                      # every shard of the small build
    python tools/check_corpus.py --config tiny
    python tools/check_corpus.py --shards DIR --limit 50 --json report.json

Per system example: its LMX equals the LMX linearized from its own MusicXML; that LMX
delinearizes to the source notes (pitch with alteration, onset, duration); every MIDI note lies
inside the system's span; audio = span + release tail; the image's staff height measures
18 ± 1 px; the image has as many staves as the LMX says. Per piece: piece audio and notes agree
with the systems. Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from mt_music.corpus import build, checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(build.NAMED_SPECS), default="small")
    parser.add_argument("--shards", type=pathlib.Path, help="a shard folder instead of a named build's")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="check at most this many shards")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    folder = args.shards or build.shard_dir(args.data_dir or build.default_data_dir(), build.NAMED_SPECS[args.config])
    shards = sorted(folder.glob("*.tar"))[: args.limit]
    if not shards:
        print(f"error: no shards in {folder}", file=sys.stderr)
        return 1
    report = checks.CheckReport()
    for shard in shards:
        report.merge(checks.check_shard(shard))
    print(f"{len(shards)} shards in {folder}")
    print(checks.format_report(report))
    if args.json:
        args.json.write_text(json.dumps({"shards": len(shards), "examples": report.examples,
                                         "totals": report.totals(), "failures": report.failures}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
