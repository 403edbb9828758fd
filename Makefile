# emo_mm: one-command install, tests and the demo.
#   make install   create .venv/ and install the pinned OpenMMLab stack (+ mmcv ops build) and emo_mm
#   make install-deploy  add mmdeploy (torch2onnx + onnxruntime backend) to .venv/
#   make install-mobile  add the export backends (ExecuTorch, LiteRT, ncnn, MNN, OpenVINO, Core ML)
#   make test      install (+ mmdeploy, + export backends) if needed, then run the test suite
#   make demo      install if needed, then run the main job on the built-in toy dataset
#   make bench     install if needed, then regenerate every speed table (docs/benchmarks, README);
#                  BENCH_ARGS='--only runtimes': just the per-runtime latency tables (runtimes.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.stamp
PYTEST_ARGS ?=

.PHONY: install install-deploy install-mobile test demo bench clean-venv

install: $(STAMP)/emo_mm
	@bash tools/misc/ensure_mmcv.sh $(PY)
	@echo "[install] done: $(VENV) ready"

$(PY):
	@echo "[install] creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

$(STAMP)/build: $(PY) requirements/build.txt
	@mkdir -p $(STAMP)
	@echo "[install] 1/4 build tools (pip, setuptools window, ninja)"
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/build.txt
	@touch $@

$(STAMP)/torch: $(STAMP)/build requirements/torch.txt
	@echo "[install] 2/4 torch + torchvision (a few minutes the first time: several GB)"
	$(PIP) install --progress-bar on -r requirements/torch.txt
	@touch $@

$(STAMP)/runtime: $(STAMP)/torch requirements/mmcv.txt requirements/runtime.txt requirements/tests.txt requirements/export.txt
	@echo "[install] 3/4 mmcv (compiled from source with ops) + OpenMMLab stack"
	@bash tools/misc/ensure_mmcv.sh $(PY)
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt -r requirements/export.txt -c requirements/torch.txt -c requirements/mmcv.txt
	@touch $@

$(STAMP)/mim: $(STAMP)/runtime requirements/mim.txt
	@echo "[install] 3/4 (cont.) openmim: mim train / test / run emo_mm ..."
	$(PIP) install -q -r requirements/mim.txt -c requirements/torch.txt -c requirements/mmcv.txt -c requirements/build.txt
	@touch $@

# then links <site-packages>/emo_mm/.mim to configs/, tools/, model-index.yml for mim (see setup.py)
$(STAMP)/emo_mm: $(STAMP)/mim setup.py
	@echo "[install] 4/4 emo_mm (editable)"
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) tools/misc/link_mim.py
	@touch $@

# mmdeploy (optional extra; `make test` installs it so that tests/test_mmdeploy.py runs). --no-deps:
# see requirements/deploy.txt.
install-deploy: $(STAMP)/deploy

$(STAMP)/deploy: $(STAMP)/emo_mm requirements/deploy.txt
	@echo "[install] mmdeploy (torch2onnx + onnxruntime backend)"
	$(PIP) install -q --no-deps -r requirements/deploy.txt
	@touch $@

# Export backends of tools/deployment/export.py (optional extra; `make test` installs it so that
# tests/test_export_backends.py runs). --no-deps: see requirements/mobile.txt.
install-mobile: $(STAMP)/mobile

$(STAMP)/mobile: $(STAMP)/emo_mm requirements/mobile.txt
	@echo "[install] export backends (ExecuTorch, LiteRT, ncnn, MNN, OpenVINO, Core ML)"
	$(PIP) install -q --no-deps -r requirements/mobile.txt
	@touch $@

test: install install-deploy install-mobile
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: install
	$(PY) tools/demo.py $(DEMO_ARGS)

bench: install
	$(PY) tools/analysis_tools/bench_docs.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
