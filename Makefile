# Parts of Deep Learning
#   make book   build the book, every notebook executed at default scale, into _build/html
#   make test   everything CI runs: lint, library tests, the book at quick (every notebook executed
#               once, its checked outputs compared and its claims gated), browser check
#   make lab    open the notebooks in JupyterLab, with the project's environment
#   make pdf    the whole book as one PDF, printed by headless Chromium: _build/pdf/
#   make serve  serve the built book on http://localhost:8000 (search needs http://, not file://)
#   make notebooks [SCALE=default] [NB=chapters/05_resnet/02_degradation.ipynb]
#               validate notebooks with nbval, as a teacher would
# Both set themselves up first: a .venv with the pinned versions (constraints.txt) and the
# vendored front-end assets (MathJax, widget manager) that let the book work offline.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBWORKERS ?= 2
LINTED := lib tests tools chapters benchmarks conftest.py
# Notebooks run two at a time on two cores: one thread each, so they do not fight for cores.
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: book test setup assets lint unit notebooks book-test pdf-test browser pdf serve lab clean

book: setup
	DLPARTS_SCALE=$${DLPARTS_SCALE:-default} $(BIN)/python tools/build_book.py
	@echo "The book is in _build/html: open _build/html/index.html in a browser."

test: setup
	@t0=$$(date +%s); for stage in lint unit book-test pdf-test browser; do \
	  s=$$(date +%s); $(MAKE) --no-print-directory $$stage; \
	  echo "-- $$stage took $$(( $$(date +%s) - s )) s"; \
	done; echo "make test: everything passed in $$(( $$(date +%s) - t0 )) s."

setup: $(STAMP) assets

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(BIN)/python ]; then \
	  echo "creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv $(VENV) || { echo "could not create a venv: apt-get install python3-venv"; exit 1; }; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[book,test,lab]'
	@touch $(STAMP)

assets:
	@./tools/vendor_assets.sh
	@./tools/vendor_axe.sh

lint:
	@echo "== ruff: lint and format check =="
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

unit:
	@echo "== library tests =="
	$(ONE_THREAD) $(BIN)/pytest tests -m "not book" -n $(NBWORKERS) -q -p no:cacheprovider

SCALE ?= quick
NB ?= chapters
notebooks: setup
	@echo "== $(NB) through nbval at DLPARTS_SCALE=$(SCALE) =="
	DLPARTS_SCALE=$(SCALE) DLPARTS_CLAIMS_STRICT=1 TQDM_DISABLE=1 $(ONE_THREAD) $(BIN)/pytest $(NB) \
	  --nbval-lax --nbval-current-env --nbval-sanitize-with tools/nbval_sanitize.cfg \
	  -n $(NBWORKERS) --dist loadscope -q -p no:cacheprovider

book-test:
	@echo "== the book at $(SCALE) scale into _build/test, Sphinx warnings as errors =="
	$(BIN)/python tools/build_book.py --scale $(SCALE) --out _build/test --strict

pdf-test:
	@echo "== the test build as one PDF (printed by headless Chromium) =="
	$(BIN)/python tools/build_pdf.py --scale $(SCALE) --out _build/test

pdf: book
	$(BIN)/python tools/build_pdf.py --scale $${DLPARTS_SCALE:-default}
	@echo "The PDF is in _build/pdf/."

browser:
	@echo "== every page in headless Chromium, network closed =="
	$(BIN)/pytest tests -m book -q -p no:cacheprovider

lab: setup
	@echo "JupyterLab on the notebooks, with the project's environment (MyST rendered by jupyterlab-myst)"
	$(BIN)/python tools/lab.py

PORT ?= 8000
serve:
	@echo "serving _build/html at http://localhost:$(PORT)/ (search works here; Ctrl-C stops)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

clean:
	rm -rf _build .pytest_cache .hypothesis
