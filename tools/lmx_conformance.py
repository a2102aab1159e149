"""How faithfully does LMX round-trip real music? Measured on the music21 corpus.

For each sample (one system, or a whole part, of a one-part MusicXML score)
the script checks two things:

1. token round trip: linearize -> delinearize -> linearize gives the same tokens;
2. musical content: music21 reads the delinearized MusicXML with the same
   notes (step, octave, alteration, onset, length), measure by measure and
   staff by staff, as the source MusicXML. Rest lengths are compared on the
   XML (music21 overrides measure-rest lengths with its time signature): a
   system made only of measure rests cannot tell their length, because LMX
   re-states clef and key at a system start but not the time signature; the
   last figure shows that giving delinearize() the time signature closes it.

Sources: MusicXML files of the corpus are split into their parts at the XML
level (so the original encoding is linearized); Humdrum/ABC sources are first
exported to MusicXML by music21. Systems come from the scores' own system and
page breaks; parts without any get one every few measures. Samples are drawn
round-robin from several groups (grand-staff piano parts, Bach chorale parts,
string-quartet parts, other MusicXML parts, music21 exports) so that a small
`--limit` still sees every kind of music.

Example: python tools/lmx_conformance.py --limit 400 --verbose
"""

from __future__ import annotations

import argparse
import sys

from mt_music.errors import ArgumentParser, UserError, check_positive, main_with_errors
from mt_music.lmx.conformance import run


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=400, help="number of samples (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="shuffles the order of files")
    parser.add_argument("--systems-per-part", type=int, default=3,
                        help="at most this many systems of each part, evenly spread (default 3); "
                             "0 checks whole parts instead of systems")
    parser.add_argument("--flavor", choices=("core", "extended"), default="extended")
    parser.add_argument("--min-tokens", type=float, default=98.0,
                        help="exit 1 when the token round-trip rate is below this percentage")
    parser.add_argument("--min-music", type=float, default=95.0,
                        help="exit 1 when the music21 note rate is below this percentage")
    parser.add_argument("--verbose", action="store_true", help="list every failing sample")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    check_positive(args.limit, "--limit")
    check_positive(args.systems_per_part, "--systems-per-part", allow_zero=True)
    for setting, value in (("--min-tokens", args.min_tokens), ("--min-music", args.min_music)):
        if not 0 <= value <= 100:
            raise UserError(f"{setting} is a percentage (0-100), got {value:g}")
    report = run(args.limit, seed=args.seed, systems_per_part=args.systems_per_part,
                 flavor=args.flavor, progress=not args.no_progress)
    if not report.checked:
        raise UserError("no sample could be checked; nothing to measure")
    print(report.text(verbose=args.verbose))
    passed = report.rate("tokens_ok") >= args.min_tokens and report.rate("notes_ok") >= args.min_music
    if not passed:
        print(f"error: below the thresholds (--min-tokens {args.min_tokens:g} %, --min-music {args.min_music:g} %)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
