# faxhub: `make run` starts the gateway on its embedded defaults, `make test` runs every test.
# Both install the system packages they need first (Debian/Ubuntu, as root or with sudo).

CARGO ?= cargo

.PHONY: run test deps build release bench check fmt clippy clean

run: deps release
	./target/release/faxhub serve

test: deps
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace --no-fail-fast

deps:
	@bash scripts/install-deps.sh

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release

bench: deps release
	python3 bench/ingest/run.py
	python3 bench/convert/run.py
	python3 bench/convert/run.py --only sandbox
	python3 bench/lines/run.py
	python3 bench/lines/run.py --against 8a173a7  # issue 14: media checks within 10% of before
	python3 bench/receipts/run.py
	python3 bench/cluster/run.py
	python3 bench/api/run.py

check: fmt clippy test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
