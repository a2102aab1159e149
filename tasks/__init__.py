"""SeqIO tasks and mixtures of mt_music (installed as `mt_music.tasks`).

Importing registers, for each row of `datasets.py`:
- one task per (dataset, direction): `mt_music_corpus_{tiny,small,full}_<source>2<target>` over baked
  systems (`system_tasks`), and `mt_music_corpus_<config>_pieces_{audio2midi,midi2audio}` over
  windows of baked whole pieces (`piece_tasks`);
- the recipe mixtures `mt_music_corpus_<config>_{all_directions,image_to_audio,audio_to_image,
  bidirectional}` and their `_eval` twins (`mixtures`).
- for each published dataset's config (`datasets.PUBLISHED`), the same: `olimpic_synthetic_image2lmx`,
  `maestro_v3_audio2midi`, …, and the mixtures `mt_music_published_<recipe>[_eval]` over all of them.
Records are read from `$MT_MUSIC_TOKENS_DIR` (default `data/tokens`)/<config>[_pieces]/<split>/.
"""

from mt_music.tasks import datasets, mixtures, piece_tasks, system_tasks

TASKS = ([name for dataset in datasets.CORPUS for name in system_tasks.register(dataset)]
         + [name for dataset in datasets.CORPUS_PIECES for name in piece_tasks.register(dataset)]
         + [name for dataset in datasets.PUBLISHED for name in (
             piece_tasks.register(dataset) if dataset.level == "piece" else system_tasks.register(dataset))])
MIXTURES = ([name for dataset in datasets.CORPUS for name in mixtures.register(dataset)]
            + mixtures.register_published(datasets.PUBLISHED))
