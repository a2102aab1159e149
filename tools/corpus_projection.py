#!/usr/bin/env python
"""Projects a built sample's numbers to the whole corpus: systems, hours of audio, storage.

    python tools/corpus_projection.py SUMMARY.json [SUMMARY.json ...] [--variants 2]

Per collection, the sample's means per ATTEMPTED piece variant (failures included) are scaled to
the collection's size in music21's catalogue; collections the sample did not reach use the
sample's overall means. `--variants` renderings per piece (the `full` build makes 2).
"""

from __future__ import annotations

import collections
import json
import pathlib

from mt_music.corpus import pieces
from mt_music.errors import ArgumentParser, UserError, check_input_file, check_positive, main_with_errors

FIELDS = ("ok", "systems", "bytes", "system_audio_hours", "piece_audio_hours")


def read_collections(path: pathlib.Path) -> dict[str, dict]:
    """The per-collection numbers of a build summary (summary-<name>.json / corpus_summary.json)."""
    check_input_file(path, "SUMMARY")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not JSON ({error}); give a build summary (summary-<name>.json)") from None
    collections = summary.get("collections") if isinstance(summary, dict) else None
    if not isinstance(collections, dict) or not all(
            isinstance(entry, dict) and all(isinstance(entry.get(key), (int, float)) for key in ("attempted", *FIELDS))
            for entry in collections.values()):
        raise UserError(f"{path} is not a corpus build summary (no per-collection numbers "
                        f"{', '.join(('attempted', *FIELDS))}); give summary-<name>.json of tools/build_corpus.py")
    return collections


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summaries", nargs="+", type=pathlib.Path)
    parser.add_argument("--variants", type=int, default=1)
    args = parser.parse_args(argv)
    check_positive(args.variants, "--variants")
    sample: dict[str, dict] = {}
    for path in args.summaries:
        for name, entry in read_collections(path).items():
            target = sample.setdefault(name, dict.fromkeys(("attempted", *FIELDS), 0))
            for key in target:
                target[key] += entry[key]
    attempted = sum(e["attempted"] for e in sample.values())
    if not attempted:
        raise UserError("the summaries have no attempted pieces; nothing to project")
    overall = {key: sum(e[key] for e in sample.values()) / attempted for key in FIELDS}
    sizes = collections.Counter(p.collection for p in pieces.catalog())
    totals = dict.fromkeys(FIELDS, 0.0)
    print(f"{'collection':<20}{'pieces':>8}{'sampled':>9}{'ok %':>7}{'systems':>10}{'audio h':>9}{'GB':>8}")
    for name, count in sizes.most_common():
        entry = sample.get(name)
        means = {key: entry[key] / entry["attempted"] for key in FIELDS} if entry else overall
        projected = {key: means[key] * count * args.variants for key in FIELDS}
        for key in FIELDS:
            totals[key] += projected[key]
        print(f"{name:<20}{count:>8}{(entry or {}).get('attempted', 0):>9}{100 * means['ok']:>7.0f}"
              f"{projected['systems']:>10.0f}{projected['system_audio_hours'] + projected['piece_audio_hours']:>9.0f}"
              f"{projected['bytes'] / 1e9:>8.1f}")
    hours = totals["system_audio_hours"] + totals["piece_audio_hours"]
    print(f"\nfull corpus × {args.variants} variant(s): {totals['ok']:.0f} piece variants, {totals['systems']:.0f} systems, "
          f"{totals['system_audio_hours']:.0f} h system audio + {totals['piece_audio_hours']:.0f} h piece audio, "
          f"{totals['bytes'] / 1e9:.1f} GB of shards ({totals['bytes'] / hours / 1e6:.0f} MB per hour of audio); "
          f"the TFDS records hold about as much again (shards can be deleted after preparing)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
