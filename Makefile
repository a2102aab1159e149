# `make` sets everything up, builds the small embedded corpus, bakes its codec tokens with the shipped
# CPU codecs, trains the tiny model on all 12 directions (the main job on a CPU) and evaluates it;
# `make test` runs the tests.
# Setup is incremental: the virtualenv is rebuilt only when requirements.txt,
# requirements-peers.txt or setup.py change; the Debian-package check runs every time (it is instant).

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.mt_music-installed
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2
# The transcriber peer; --no-deps because its TensorFlow/resampy pins clash (requirements-peers.txt).
BASIC_PITCH := basic-pitch==0.4.0

.PHONY: all setup system-deps corpus tokens tokens-all-variants refit-codecs train eval export decode quickstart test lint clean

all: decode

system-deps:
	@bash tools/install_system_deps.sh

$(STAMP): requirements.txt requirements-peers.txt setup.py
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v < (3, 13) else "mt_music needs Python 3.10-3.12 (tensorflow-text has no 3.13 build); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -r requirements-peers.txt
	$(PY) -m pip install -q --no-deps $(BASIC_PITCH)
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: system-deps $(STAMP)
	@$(PY) -m mt_music.image.engraving install-fonts

corpus: setup
	$(PY) tools/build_corpus.py

# The CPU codecs fitted on the small corpus's train split (docs/design.md §6.2.1) ship in assets/codecs;
# `make tokens` bakes the corpus's systems with 4 of the 32 image shifts, 2 degraded copies of each image
# (inputs only) and 3 of the 9 audio offsets, and its whole pieces' audio (3 offsets) for the AMT windows
# (a few minutes); `make tokens-all-variants` bakes every shift (about 13 minutes); `make refit-codecs`
# fits the codecs again into runs/codecs (about 8 minutes; copy them over assets/codecs to ship them).
CODECS := assets/codecs
BAKE := $(PY) tools/bake_codec_tokens.py --image-codec $(CODECS)/image_cpu --audio-codec $(CODECS)/audio_cpu --corpus small
BAKE_PIECES := $(PY) tools/bake_codec_tokens.py --audio-codec $(CODECS)/audio_cpu --corpus small_pieces
TOKENS := data/tokens/small

tokens: corpus
	$(BAKE) --out $(TOKENS) --image-variants 4 --audio-variants 3 --degraded-variants 2
	$(BAKE_PIECES) --out $(TOKENS)_pieces --audio-variants 3

tokens-all-variants: corpus
	$(BAKE) --out data/tokens/small_all_variants --degraded-variants 4
	$(BAKE_PIECES) --out data/tokens/small_all_variants_pieces

refit-codecs: corpus
	$(PY) -m mt_music.codecs.fit --gin_file=codecs/image_cpu.gin --gin.MODEL_DIR="'runs/codecs/image_cpu'"
	$(PY) -m mt_music.codecs.fit --gin_file=codecs/audio_cpu.gin --gin.MODEL_DIR="'runs/codecs/audio_cpu'"

# The main job: the tiny model on the all-12-directions curriculum over the baked tokens (gin/experiments/corpus_cpu.gin);
# a finished run is left as it is (rm -rf $(CPU_RUN) to train it again).
CPU_RUN := runs/corpus_cpu
CPU_STEPS := 300
train: tokens
	@if [ -d $(CPU_RUN)/checkpoints/$(CPU_STEPS) ]; then \
		echo "$(CPU_RUN) is trained to step $(CPU_STEPS) (its log: $(CPU_RUN)/metrics.jsonl); rm -rf $(CPU_RUN) to train again"; \
	else \
		$(PY) -m mt_music.train --gin_file=experiments/corpus_cpu.gin --gin.MODEL_DIR="'$(CPU_RUN)'" --gin.TRAIN_STEPS=$(CPU_STEPS); \
	fi

# The evaluation of the main job's checkpoint (gin/experiments/corpus_cpu_eval.gin): the task × metric tables,
# also in $(CPU_RUN)/eval_validation/ (results.json, results.md, metrics.jsonl).
eval: train
	$(PY) -m mt_music.eval --gin_file=experiments/corpus_cpu_eval.gin --gin.CHECKPOINT_PATH="'$(CPU_RUN)'"

# The main job's checkpoint exported (python -m mt_music.export), then one held-out system of the test split
# decoded in every direction (python -m mt_music.decode all) into $(DECODED)/report.html, which Chromium opens.
EXPORT := exports/corpus_cpu
HELDOUT := data/heldout
DECODED := runs/decoded
export: train
	$(PY) -m mt_music.export $(CPU_RUN) -o $(EXPORT) --force

decode: eval export
	$(PY) tools/heldout_examples.py --out $(HELDOUT)
	$(PY) -m mt_music.decode all $(HELDOUT) -o $(DECODED) --model $(EXPORT) --window-seconds 1.4 \
		--synthesis-window-seconds 1.4 --overlap-seconds 0.4 --report $(DECODED)/report.html
	$(PY) tools/check_report.py $(DECODED)/report.html

quickstart: setup corpus
	$(PY) -m mt_music.quickstart

test: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests

lint: setup
	$(PY) -m ruff check mt_music tasks tools tests
	$(PY) tools/check_imports.py

clean:
	rm -rf $(VENV) runs build *.egg-info
