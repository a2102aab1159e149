"""mt_music: cross-modal music translation (score image, LMX, MIDI, audio) in JAX.

Packages by role, lowest layer first (docs/design.md §2): the representations `lmx`, `midi`,
`image`, `audio`; the shared `vocabulary`; the `model` and the `codecs`' networks; `training`
(no TensorFlow) and `data` + `corpus` (the TensorFlow/SeqIO side); the entry points `train`,
`quickstart`, `codecs.train` and the SeqIO `tasks`.
"""

import contextlib
import io
import os

__version__ = "0.1.0"


def _import_fluidsynth_quietly() -> None:
    """pyfluidsynth prints "'fluidsynth' was found at …" on STDOUT at import when $CI is
    set, which corrupts CLI output (token lists, MusicXML). pretty_midi imports it, so
    import it once here with stdout captured; later imports reuse the module. Only
    under $CI: elsewhere nothing prints and start-up stays free of the library probe."""
    if "CI" not in os.environ:
        return
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            import fluidsynth  # noqa: F401
        except (ImportError, OSError):  # no libfluidsynth: synthesis reports it when used
            pass


_import_fluidsynth_quietly()
