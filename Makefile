# The two commands of the README: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	pnpm demo

test: setup
	pnpm test

bench: setup
	pnpm bench
