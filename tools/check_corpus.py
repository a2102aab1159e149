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

import json
import pathlib
import sys

from mt_music.corpus import build, checks
from mt_music.errors import ArgumentParser, UserError, check_output_file, check_positive, main_with_errors


def shard_files(source: pathlib.Path) -> list[pathlib.Path]:
    """The .tar shards of a folder, or the one shard given."""
    if source.is_file():
        if source.suffix != ".tar":
            raise UserError(f"--shards: {source} is not a shard (.tar); give a shard folder or a .tar file")
        return [source]
    if not source.is_dir():
        raise UserError(f"--shards: {source} does not exist; build first (tools/build_corpus.py) or give a shard folder")
    return sorted(source.glob("*.tar"))


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(build.NAMED_SPECS), default="small")
    parser.add_argument("--shards", type=pathlib.Path, help="a shard folder instead of a named build's")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="check at most this many shards")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if args.limit is not None:
        check_positive(args.limit, "--limit")
    if args.json:
        check_output_file(args.json, "--json")
    folder = args.shards or build.shard_dir(args.data_dir or build.default_data_dir(), build.NAMED_SPECS[args.config])
    shards = shard_files(folder)[: args.limit]
    if not shards:
        raise UserError(f"no shards (.tar) in {folder}; build first (tools/build_corpus.py --config {args.config})")
    report = checks.CheckReport()
    for shard in shards:
        report.merge(checks.check_shard(shard))
    print(f"{len(shards)} shards in {folder}")
    print(checks.format_report(report))
    if args.json:
        args.json.write_text(json.dumps({"shards": len(shards), "examples": report.examples,
                                         "totals": report.totals(), "failures": report.failures}, indent=2))
    if not report.ok:
        print(f"error: {len(report.failures)} checks failed (listed above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
