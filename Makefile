# devspec's entry points. A new user needs two: `make run` and `make test`.

PREFIX ?= $(HOME)/.local
CARGO ?= cargo
LIBTORCH_READY := .libtorch/.flavour
DEFAULT_SPEC := specs/tms.dev

.PHONY: run test lint build install libtorch bench clean editors python-test python-test-torch

# Fetches libtorch if missing, builds in release mode, and runs the default study: its
# training, the LLC at every checkpoint, the stages detected in both and the report (the run
# ends with the stage tables and the report's path: reports/tms/summary/report.html).
run: build
	target/release/devspec --version
	target/release/devspec run $(DEFAULT_SPEC)

# The whole test suite, lint included: what CI runs. As root (CI is), a single-node Slurm cluster
# is started for the Slurm executor's test (scripts/slurm-local.sh: Debian's packages, installed
# if missing) and the daemons it started are stopped afterwards, whatever the tests' outcome.
# Then the Python module's suite (python-test, below).
test: $(LIBTORCH_READY) lint
	@started=$$(scripts/slurm-local.sh start-for-tests); \
	DEVSPEC_SLURM=$$started $(CARGO) test --workspace; status=$$?; \
	if [ "$$started" = started ]; then scripts/slurm-local.sh stop; fi; \
	exit $$status
	$(MAKE) python-test

# The Python module (python/): its extension built by cargo with the dev profile next to its
# Python sources, which the tests import in place. Built with the targets `cargo test
# --workspace` builds, so with the same features: everything it built is reused and only the
# extension is added (a build of the extension alone unifies features differently and compiles
# the library and arrow again; maturin develop sets PyO3's build variables its own way and
# rebuilds PyO3 after every lint, about a minute). Its pytest suite runs against the debug
# devspec binary (its worker beside it) in a venv under target/, made once
# (scripts/python-venv.sh: Debian's python3-venv installed as root where missing) and again when
# the pinned packages change. `pip install ./python` builds the wheel with maturin.
PY_VENV := target/python-venv

python-test: $(PY_VENV)/.ready
	$(CARGO) build --workspace --lib --bins --tests
	cp target/debug/lib_native.so python/devspec/_native.abi3.so
	cd python && PYTHONPATH=$(CURDIR)/python DEVSPEC=$(CURDIR)/target/debug/devspec \
	  ../$(PY_VENV)/bin/python -m pytest -q -rs tests

$(PY_VENV)/.ready: python/tests/requirements.txt scripts/python-venv.sh
	scripts/python-venv.sh $(PY_VENV)

lint: $(LIBTORCH_READY)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build: $(LIBTORCH_READY)
	$(CARGO) build --release --workspace

# Installs devspec and devspec-worker into $(PREFIX)/bin and the libtorch the worker needs into
# $(PREFIX)/lib/devspec/libtorch (the worker finds it there through its rpath, so the checkout
# may be deleted afterwards).
install: build
	install -d $(PREFIX)/bin $(PREFIX)/lib/devspec/libtorch
	install -m 755 target/release/devspec target/release/devspec-worker $(PREFIX)/bin/
	cp -a .libtorch/lib .libtorch/build-version $(PREFIX)/lib/devspec/libtorch/

libtorch: $(LIBTORCH_READY)

$(LIBTORCH_READY):
	scripts/fetch-libtorch.sh

# The benchmarks; the training one compares against PyTorch 2.13.0, the LLC one against devinterp
# 2.0.1, in a venv kept outside the repository (about 5 GB: PyPI's torch is the CUDA build), made
# on first use (the stamp names what it holds, so a venv made before devinterp gets it too). The
# matmul peak first: the transformer LLC bench reports its rates as fractions of the peak it
# records (it runs again with the workspace's benches, a few seconds). The forecast's timing
# test (tests/cost_forecast.rs, ignored by `make test`) runs here.
BENCH_VENV ?= $(HOME)/.cache/devspec/bench-venv

bench: build $(BENCH_VENV)/.ready-devinterp
	$(CARGO) bench -p devspec-worker --bench matmul_peak
	DEVSPEC_BENCH_PYTHON=$(BENCH_VENV)/bin/python $(CARGO) bench --workspace
	$(CARGO) test --test cost_forecast -- --ignored --nocapture
	$(MAKE) python-test-torch

$(BENCH_VENV)/.ready-devinterp:
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet torch==2.13.0 devinterp==2.0.1
	touch $@

# The same suite where torch imports, so its torch checks run (a checkpoint loaded into a
# torch.nn.Module): in the bench venv (torch 2.13.0), with the test packages added unpinned so
# the benchmarks' own packages stay as they are. Part of `make bench`.
python-test-torch: $(BENCH_VENV)/.ready-devinterp
	$(BENCH_VENV)/bin/pip install --quiet pandas pyarrow safetensors pytest
	$(CARGO) build --workspace --lib --bins --tests
	cp target/debug/lib_native.so python/devspec/_native.abi3.so
	cd python && PYTHONPATH=$(CURDIR)/python DEVSPEC=$(CURDIR)/target/debug/devspec \
	  $(BENCH_VENV)/bin/python -m pytest -q -rs tests

# The VS Code extension, packaged into editors/vscode/devspec.vsix by @vscode/vsce 3.9.2 (node 20
# or later; skipped with a message on older node). Not part of `make test`: `npm ci` fetches its
# packages from npm (about 40 s the first time). `npm test` first checks the TextMate grammar
# with VS Code's tokenizer (editors/vscode/test/tokenize.js). The tree-sitter grammar needs
# nothing here: its generated parser is committed and `make test` checks it
# (editors/tree-sitter-devspec/tests/).
editors:
	@if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then \
	  echo "make editors: skipped, @vscode/vsce 3.9.2 needs node 20 or later (found: $$(node --version 2>/dev/null || echo none))"; \
	else \
	  cd editors/vscode && npm ci --no-audit --no-fund && npm test && npx vsce package --out devspec.vsix; \
	fi

clean:
	$(CARGO) clean
