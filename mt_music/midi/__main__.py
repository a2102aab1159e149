"""`python -m mt_music.midi`: see mt_music.midi.cli."""

import sys

from mt_music.midi.cli import main

sys.exit(main())
