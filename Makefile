# Two commands on a fresh machine: `make book` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SMOKE  := _build/smoke
export CROSSLINGUAL_RUNS ?= $(CURDIR)/runs
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: setup book test unit clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Every notebook at profile=default into book/experiments/, then the HTML book (warnings are errors).
book: setup
	@start=$$(date +%s); \
	$(BIN)/crosslingual book --profile default && \
	echo "make book took $$(( $$(date +%s) - start )) s; open $(CURDIR)/_build/html/index.html"

# The whole suite: unit + integration + smoke notebooks + strict smoke book build + HTML checks,
# then nbval re-executes the smoke notebooks and compares the cells marked for checking.
test: setup
	rm -rf $(SMOKE)
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "Chromium could not be installed (needs root and apt): the browser test will be skipped"
	CROSSLINGUAL_SMOKE_DIR=$(CURDIR)/$(SMOKE) CROSSLINGUAL_RUNS=$(CURDIR)/$(SMOKE)/runs $(BIN)/python -m pytest tests
	cd $(SMOKE)/book/book/experiments && CROSSLINGUAL_RUNS=$(CURDIR)/$(SMOKE)/runs \
	  $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
	  --nbval-sanitize-with $(CURDIR)/tests/nbval_sanitize.cfg --rootdir=. .

unit: setup
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf _build book/experiments
