# The two commands: `make run` starts the demo city, `make test` passes every test.
# `make bench` (apart from test: about 15 minutes) measures the city-scale figures; options through
# BENCH, e.g. `make bench BENCH="--size 10M --pg"`, or `BENCH=--quick` for a smoke run.
# Both set up what they need on a fresh machine (a .venv beside this file).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run setup test bench soak audit browser clean

run: setup
	$(PY) app.py

setup: $(VENV)/.runtime
	$(PY) -m ioc db upgrade
	$(PY) -m ioc city load

# Three pytest-xdist workers on two cores: the browser, server and database tests spend much of
# their time waiting. worksteal: the long tests (browser, load, bench) do not pile up on one worker.
TEST_WORKERS ?= 3

test: $(VENV)/.dev browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

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

# Known vulnerabilities in the pinned runtime set (docs/reliability.md, Dependencies). --strict:
# a package pip-audit could not check fails the run instead of being skipped with exit 0.
audit:
	$(PYTHON) -m venv .venv-audit
	.venv-audit/bin/python -m pip install --quiet --disable-pip-version-check pip-audit==2.10.1
	.venv-audit/bin/pip-audit --strict --no-deps --disable-pip -r requirements.txt

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
	rm -rf $(VENV) .venv-audit var .pytest_cache
