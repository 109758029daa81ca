# EBM Studio — `make run` opens the app on a built-in demo, `make test` runs
# every test headless. Both set everything up on a fresh machine first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := packaging/constraints.txt
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := libosmesa6 xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 \
	libxkbcommon-x11-0 libegl1 libgl1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 \
	libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 libfontconfig1
TEST_ARGS ?=

.PHONY: run test lint bench bundle bundle-test setup system-deps clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is named here with the project so pip takes the local CPU wheel.
	$(PIP) install -q -c $(CONSTRAINTS) 'torch==2.13.0' -e '.[app,dev,chem]'
	touch $(STAMP)

setup: $(STAMP)

# Debian libraries for headless Qt/VTK (OSMesa) and Xvfb; installed only as root.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(DEBIAN_PACKAGES); do \
			dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	fi

run: setup system-deps
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ] && command -v xvfb-run >/dev/null; then \
		echo "no display: starting under xvfb-run"; \
		QT_QPA_PLATFORM=xcb xvfb-run -a $(VENV)/bin/ebm-studio --demo 8gaussians; \
	else \
		$(VENV)/bin/ebm-studio --demo 8gaussians; \
	fi

test: setup system-deps
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(TEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup system-deps
	$(PY) -m benchmarks.run_all

bundle: setup
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[bundle]'
	$(PY) packaging/build.py

bundle-test: setup system-deps
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[bundle]'
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m bundle

clean:
	rm -rf build dist .pytest_cache
