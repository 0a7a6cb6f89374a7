# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
# `make quick` is the inner loop: the tests that start no server and take under ~2 s each.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# mypy and lint-imports cannot follow setuptools' editable import hook, so they read a tree of
# links laid out as the package installs: interop/ with cli/, validators/, mappings/ ... inside.
TYPETREE ?= build/typecheck

.PHONY: demo test quick setup lint typecheck typetree unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else "Python 3.11 to 3.13 is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/interop demo

test: lint typecheck unit

# ruff (style, and the complexity ceiling), then the architecture's import contracts
# ([tool.importlinter] in pyproject.toml: layers, no cycles, pure mappings, R4B only in fhir)
lint: $(STAMP) typetree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(TYPETREE) && PYTHONPATH=. $(CURDIR)/$(BIN)/lint-imports --no-cache $(CURDIR)/pyproject.toml

typetree:
	@rm -rf $(TYPETREE) && mkdir -p $(TYPETREE)/interop
	@for entry in interop/*; do ln -s "$(CURDIR)/$$entry" $(TYPETREE)/interop/; done
	@for pkg in mappings validators cli profiles fixtures; do ln -s "$(CURDIR)/$$pkg" $(TYPETREE)/interop/$$pkg; done

typecheck: $(STAMP) typetree
	cd $(TYPETREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p interop

unit: $(STAMP)
	$(BIN)/pytest -n auto

# No lint or typecheck, the dev Hypothesis profile unless one is asked for (tests/conftest.py).
quick: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-dev} $(BIN)/pytest -n auto -q -m "not slow and not integration"

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/cpis_build.py
	$(BIN)/python benchmarks/cpis_sync.py
	$(BIN)/python benchmarks/hl7v2_throughput.py
	$(BIN)/python benchmarks/validation_chain.py
	$(BIN)/python benchmarks/invariants.py
	$(BIN)/python benchmarks/hostile_input.py
	$(BIN)/python benchmarks/fhir_client_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
