# The two commands: `make run` starts the demo city, `make test` passes every test.
# `make bench` (apart from test: about 15 minutes) measures the city-scale figures; options through
# BENCH, e.g. `make bench BENCH="--size 10M --pg"`, or `BENCH=--quick` for a smoke run.
# Both set up what they need on a fresh machine (a .venv beside this file).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run setup test bench soak browser clean

run: setup
	$(PY) app.py

setup: $(VENV)/.runtime
	$(PY) -m ioc db upgrade
	$(PY) -m ioc city load

test: $(VENV)/.dev browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(VENV)/.dev browser
	$(PY) -m bench.run $(BENCH)

# 100 screens for 10 minutes against gunicorn (2 workers) during a 10x ingest surge, on a throwaway
# PostgreSQL database (IOC_TEST_PG, default the local server). Fails on any error or lost record.
soak: $(VENV)/.dev
	@mkdir -p var
	$(PY) -m bench.load --clients 100 --seconds 600 --surge 10 --json > var/soak.json; \
		status=$$?; cat var/soak.json; exit $$status

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Browser tests drive Debian's chromium through chromium-driver (plus a CJK font, so screenshots
# show Chinese). Installed here when we are root.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		&& [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; \
	else \
		echo "browser tests will skip: install Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver fonts-wqy-microhei)"; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache
