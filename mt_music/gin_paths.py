"""Where gin configs live, for both a source checkout and an installed wheel.

The repository keeps configs in the top-level `gin/` folder; setup.py installs that
folder as the package `mt_music.gin_configs`. Entry points add these directories
to gin's search path so `--gin_file=models/tiny.gin` works from anywhere.
"""

import importlib.util
import pathlib


def gin_search_paths() -> list[pathlib.Path]:
    """Returns the existing gin config directories, checkout first."""
    paths = []
    checkout = pathlib.Path(__file__).resolve().parent.parent / "gin"
    if checkout.is_dir():
        paths.append(checkout)
    spec = importlib.util.find_spec("mt_music.gin_configs")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = pathlib.Path(location).resolve()
            if path.is_dir() and path not in paths:
                paths.append(path)
    return paths
