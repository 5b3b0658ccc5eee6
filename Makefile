# TacoKit: setup · build · test · demo · bench · install
# Every target installs what it needs first (`setup` is quiet when nothing is missing).

SWIFT        ?= swift
JOBS         ?= 2
PREFIX       ?= /usr/local
DEMO_OUT     ?= out/demo
ATLAS        := atlases/mni152-2009a-sym/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz
PYTHON_ENV   := .build-python

.PHONY: setup build test demo bench install python-env clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -j $(JOBS) --product taco

## The tests: Swift tests of every module, then Python cross-checks with nibabel/pydicom.
test: setup python-env
	$(SWIFT) build -j $(JOBS) --build-tests
	TACO_PYTHON=$(abspath $(PYTHON_ENV))/bin/python $(SWIFT) test --skip-build --disable-xctest

## The main job on embedded data (for now: inspect the bundled atlas).
demo: build
	$(SWIFT) run -j $(JOBS) taco inspect $(ATLAS)

bench: setup
	$(SWIFT) build -j $(JOBS) -c release --product TacoBenchmarks
	.build/release/TacoBenchmarks

install: setup
	$(SWIFT) build -j $(JOBS) -c release --product taco
	install -d $(PREFIX)/bin
	install -m 755 .build/release/taco $(PREFIX)/bin/taco

python-env: $(PYTHON_ENV)/.ready

$(PYTHON_ENV)/.ready: requirements-test.txt
	python3 -m venv $(PYTHON_ENV)
	$(PYTHON_ENV)/bin/pip install -q -r requirements-test.txt
	touch $@

clean:
	rm -rf .build $(PYTHON_ENV) out
