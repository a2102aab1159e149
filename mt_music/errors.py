"""The error layer every entry point and tool shares: a user's mistake is one `error:` line, not a traceback.

A mistake the user can fix (bad input, a wrong setting, an output path that cannot be written) is a
`UserError` whose message names the file or setting and what to do. `main_with_errors` turns it, and
the OS errors that name a file, into `error: …` on stderr and exit status 2; anything else is a bug
and keeps its traceback. `MT_MUSIC_TRACEBACK=1` shows the traceback of user errors too (developers).

Output paths are checked before the work starts (`check_output_dir`, `check_output_file`), so a run
that cannot write its results fails at once and leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

TRACEBACK_VARIABLE = "MT_MUSIC_TRACEBACK"
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix; the message says which file or setting, and what to do."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage mistakes (unknown flag, bad number) are one `error:` line too, exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def one_line(error: BaseException) -> str:
    """The error's message on one line (OS errors as `path: reason`)."""
    if isinstance(error, OSError) and error.strerror:
        names = [str(name) for name in (error.filename, error.filename2) if name]
        text = f"{' → '.join(names)}: {error.strerror}" if names else error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def report(error: BaseException) -> int:
    """Prints `error: …` on stderr; returns the exit status for it."""
    print(f"error: {one_line(error)}", file=sys.stderr)
    return EXIT_USER_ERROR


def is_user_error(error: BaseException) -> bool:
    """A UserError, or an OS error about a named file (missing, unreadable, a folder, read-only...)."""
    return isinstance(error, UserError) or (isinstance(error, OSError) and bool(error.filename))


def main_with_errors(main: Callable[[Sequence[str] | None], int | None],
                     argv: Sequence[str] | None = None) -> int:
    """Runs a command-line `main(argv)`; a user error becomes one `error:` line and exit status 2."""
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # noqa: BLE001 - sorted into user errors and bugs just below
        if not is_user_error(error) or os.environ.get(TRACEBACK_VARIABLE):
            raise
        return report(error)


def check_output_dir(path: str | os.PathLike, setting: str) -> Path:
    """Creates `path` if needed and proves it writable; `setting` names the flag or binding that gave it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{setting}: {path} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UserError(f"{setting}: cannot write to {path} ({error.strerror or error}); "
                        "give a folder you can write to") from error
    return path


def check_output_file(path: str | os.PathLike, setting: str) -> Path:
    """Checks that `path` can be written (its folder exists and is writable; it is not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{setting}: {path} is a folder; give a file path")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{setting}: the folder {folder} does not exist; create it or give another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{setting}: cannot write {path} (permission denied); give a path you can write to")
    return path


def check_input_file(path: str | os.PathLike, setting: str) -> Path:
    """Checks that `path` is a readable file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{setting}: {path} does not exist")
    if path.is_dir():
        raise UserError(f"{setting}: {path} is a folder; give a file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{setting}: cannot read {path} (permission denied)")
    return path


def check_positive(value: float, setting: str, *, allow_zero: bool = False) -> None:
    """A count or length that must be > 0 (or ≥ 0)."""
    if value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise UserError(f"{setting} must be {bound}, got {value}")
