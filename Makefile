# The two quick-start commands: `make demo` and `make test`. Both create .venv when it is
# missing and install into it; nothing needs installing by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean-venv

install: $(STAMP)

# torch is pinned and installed first: an unpinned torch pulls gigabytes of CUDA packages.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fineflow demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.download

clean-venv:
	rm -rf $(VENV)
