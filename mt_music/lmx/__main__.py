"""`python -m mt_music.lmx`: see mt_music.lmx.cli."""

import sys

from mt_music.lmx.cli import main

sys.exit(main())
