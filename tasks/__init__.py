"""SeqIO tasks and mixtures of mt_music (installed as `mt_music.tasks`).

Importing registers, for each row of `datasets.py`:
- one task per (dataset, direction): `mt_music_corpus_{tiny,small,full}_<source>2<target>` over baked
  systems (`system_tasks`), and `mt_music_corpus_<config>_pieces_{audio2midi,midi2audio}` over
  windows of baked whole pieces (`piece_tasks`);
- the recipe mixtures `mt_music_corpus_<config>_{all_directions,image_to_audio,audio_to_image,
  bidirectional}` and their `_eval` twins (`mixtures`).
Records are read from `$MT_MUSIC_TOKENS_DIR` (default `data/tokens`)/<config>[_pieces]/<split>/.
"""

from mt_music.tasks import datasets, mixtures, piece_tasks, system_tasks

TASKS = ([name for dataset in datasets.CORPUS for name in system_tasks.register(dataset)]
         + [name for dataset in datasets.CORPUS_PIECES for name in piece_tasks.register(dataset)])
MIXTURES = [name for dataset in datasets.CORPUS for name in mixtures.register(dataset)]
