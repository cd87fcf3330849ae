# videorec: the two commands a new user needs are `make run` and `make test`.
# Everything else here is what those two are made of.

PYTHON ?= python3
COMMA := ,
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
PYTEST_WORKERS ?= 4
# Debian packages. Running needs ffmpeg alone. The test camera is GStreamer's RTSP server; the tests
# also need promtool (from prometheus) for the alert rules and Chromium for the console.
RUN_APT_PACKAGES := ffmpeg
CAMERA_APT_PACKAGES := gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
APT_PACKAGES := $(RUN_APT_PACKAGES) $(CAMERA_APT_PACKAGES) prometheus chromium

.DEFAULT_GOAL := help
.PHONY: help install install-run system-deps run-deps camera-deps run camera test lint fmt proto proto-check docs docs-check bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(RUN_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install-run: $(RUN_STAMP) ## The virtual environment with what running needs (what `make run` installs)

install: $(STAMP) ## The virtual environment with the developer's tools as well (tests, lint)

# apt-get install $(1) when the check $(2) fails: as root it installs, otherwise it says what to run.
define apt_when_missing
	@if ! ( $(2) ) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing: $(1)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
		else \
			echo "missing system packages; run as root:  apt-get install $(1)"; exit 1; \
		fi; \
	fi
endef

run-deps: ## Install ffmpeg when missing (apt-get, as root)
	$(call apt_when_missing,$(RUN_APT_PACKAGES),command -v ffmpeg && command -v ffprobe)

camera-deps: ## Install GStreamer's RTSP server (the test camera) when missing
	$(call apt_when_missing,$(CAMERA_APT_PACKAGES),/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer"$(COMMA) "1.0"); from gi.repository import GstRtspServer' && gst-inspect-1.0 x264enc)

system-deps: run-deps camera-deps ## Everything the test suite needs from Debian (ffmpeg, camera, promtool, Chromium)
	$(call apt_when_missing,prometheus chromium,command -v promtool && test -x /usr/bin/chromium)

run: $(RUN_STAMP) run-deps ## Start the control plane (SQLite under ./data) and one local agent
	$(PY) -m controlplane.launch

camera: camera-deps ## A test camera (test pattern over RTSP) at rtsp://127.0.0.1:8554/test
	/usr/bin/python3 tests/cameras/rtsp_camera.py --port 8554 --path /test

test: $(STAMP) system-deps lint ## Lint, then run the whole test suite
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q --durations=15

lint: $(STAMP) proto-check docs-check ## ruff, ruff format --check, mypy, import cycles and layers, models vs migrations
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m controlplane.schema check

fmt: $(STAMP) ## Format the code and apply safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

proto: $(STAMP) ## Regenerate shared/rpc from proto/ (never edit the generated files)
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. --pyi_out=. proto/shared/rpc/agent.proto

proto-check: $(STAMP) ## Fail when the committed generated code differs from proto/
	@tmp=$$(mktemp -d); \
	$(PY) -m grpc_tools.protoc -I proto --python_out=$$tmp --grpc_python_out=$$tmp --pyi_out=$$tmp \
		proto/shared/rpc/agent.proto && \
	diff -r -x __init__.py -x __pycache__ $$tmp/shared/rpc shared/rpc >/dev/null \
		|| { echo "shared/rpc is out of date: run 'make proto' and commit"; rm -rf $$tmp; exit 1; }; \
	rm -rf $$tmp

# The configuration reference is rendered from these settings classes (module:Class), so it cannot drift.
CONFIG_DOC ?= docs/configuration.md
SETTINGS_CLASSES := controlplane.settings:Settings agent.settings:AgentSettings

docs: $(STAMP) ## Write docs/configuration.md from the settings classes (never edit it by hand)
	$(PY) -m shared.settings_doc $(CONFIG_DOC) $(SETTINGS_CLASSES)

docs-check: $(STAMP) ## Fail when the committed docs/configuration.md differs from the settings classes
	@$(PY) -m shared.settings_doc --check $(CONFIG_DOC) $(SETTINGS_CLASSES)

bench: $(STAMP) system-deps ## Run the benchmarks and print their tables
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

# The deployment tests (tests/deploy) build and run the image with podman and render the Kubernetes
# manifests with kubectl; without them those tests skip (and fail under CI=true).
DEPLOY_APT_PACKAGES := podman runc debootstrap
.PHONY: deploy-deps image
test: deploy-deps

deploy-deps: ## Install podman, runc, debootstrap (and kubectl where apt has it) when missing (as root)
	@missing=""; \
	for tool in $(DEPLOY_APT_PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	command -v kubectl >/dev/null || ! apt-cache show kubectl >/dev/null 2>&1 || missing="$$missing kubectl"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing:$$missing (the deployment tests skip; as root: apt-get install$$missing)"; \
		fi; \
	fi

image: deploy-deps ## Build the container image videorec:latest with podman (deploy/image/build.sh)
	deploy/image/build.sh videorec:latest
