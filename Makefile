# tz_app: `make run` serves the demo, `make test` runs every test.
# Both create .venv and install on first use; they need only Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test install lint format bench i18n screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) seed --demo
	$(FLASK) run --host 127.0.0.1 --port 5000

test: $(STAMP)
	@bash .ci/ensure-chromium
	$(BIN)/python -m pytest

# The README's pictures, taken by the browser tests themselves.
screenshots: $(STAMP)
	@bash .ci/ensure-chromium
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.workers
	$(BIN)/python -m bench.keepalive
	$(BIN)/python -m bench.forgot_timing

# Extract every string marked for translation, merge it into each catalogue,
# and compile the catalogues the app loads.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k raw_gettext --no-location --sort-output \
		--project tz_app --copyright-holder tz_app -o tz_app/translations/messages.pot .
	$(BIN)/pybabel update -i tz_app/translations/messages.pot -d tz_app/translations \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d tz_app/translations --statistics

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
