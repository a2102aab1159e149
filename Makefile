# `make` sets everything up, builds the small embedded corpus and runs the quickstart;
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

.PHONY: all setup system-deps corpus codecs quickstart test lint clean

all: quickstart

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

# The CPU codecs (fitted on the small corpus's train split, docs/design.md §6.2.1) and the corpus's codec tokens.
CODECS := runs/codecs
codecs: corpus $(CODECS)/image_cpu/codec.json $(CODECS)/audio_cpu/codec.json
	$(PY) tools/bake_codec_tokens.py --image-codec $(CODECS)/image_cpu --audio-codec $(CODECS)/audio_cpu \
		--corpus small --out data/tokens/small

$(CODECS)/%/codec.json:
	$(PY) -m mt_music.codecs.fit --gin_file=codecs/$*.gin --gin.MODEL_DIR="'$(CODECS)/$*'"

quickstart: setup corpus
	$(PY) -m mt_music.quickstart

test: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) tests

lint: setup
	$(PY) -m ruff check mt_music tasks tools tests
	$(PY) tools/check_imports.py

clean:
	rm -rf $(VENV) runs build *.egg-info
