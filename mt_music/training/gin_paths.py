"""Where gin configs live, for both a source checkout and an installed wheel.

The repository keeps configs in the top-level `gin/` folder; setup.py installs
its files under `<prefix>/share/mt_music/gin`. Entry points add these
directories to gin's search path so `--gin_file=models/tiny.gin` works from
anywhere.
"""

import pathlib
import sys


def gin_search_paths() -> list[pathlib.Path]:
    """Returns the existing gin config directories, checkout first."""
    candidates = [
        pathlib.Path(__file__).resolve().parents[2] / "gin",
        pathlib.Path(sys.prefix) / "share" / "mt_music" / "gin",
    ]
    return [path for path in candidates if path.is_dir()]
