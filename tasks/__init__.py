"""SeqIO tasks and mixtures of mt_music (installed as `mt_music.tasks`).

Importing registers one task per (dataset, direction) for the datasets of `datasets.py`:
`mt_music_corpus_{tiny,small,full}_<source>2<target>`, reading the baked token records under
`$MT_MUSIC_TOKENS_DIR` (default `data/tokens`)/<config>/<split>/.
"""

from mt_music.tasks import datasets, system_tasks

TASKS = [name for dataset in datasets.CORPUS for name in system_tasks.register(dataset)]
