# devspec's entry points. A new user needs two: `make run` and `make test`.

PREFIX ?= $(HOME)/.local
CARGO ?= cargo
LIBTORCH_READY := .libtorch/.flavour
DEFAULT_SPEC := specs/tms.dev

.PHONY: run test lint build install libtorch bench clean

# Fetches libtorch if missing, builds in release mode, and runs the default study. Until
# `devspec run` exists (the executor issue), it goes as far as devspec can: the worker's report
# and a check of the default study.
run: build
	target/release/devspec --version
	target/release/devspec check $(DEFAULT_SPEC)
	@echo "$(DEFAULT_SPEC) checks clean; \`devspec run\` arrives with the executor issue."

# The whole test suite, lint included: what CI runs.
test: $(LIBTORCH_READY) lint
	$(CARGO) test --workspace

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

bench: build
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
