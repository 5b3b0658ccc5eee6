# TacoKit: setup · build · test · demo · bench · install
# Every target installs what it needs first (`setup` is quiet when nothing is missing).

SWIFT        ?= swift
JOBS         ?= 2
PREFIX       ?= /usr/local
DEMO_OUT     ?= out/demo
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

## The main job on embedded data: a synthetic cohort made from the bundled atlas, then a look at it.
demo: build
	.build/debug/taco synth --out $(DEMO_OUT) --subjects 6 --seed 1 --force
	.build/debug/taco inspect $(DEMO_OUT)/dicom | head -n 30
	.build/debug/taco inspect $(DEMO_OUT)/bids/sub-01/ses-01/anat/sub-01_ses-01_FLAIR.nii.gz
	@echo "demo: DICOM dump in $(DEMO_OUT)/dicom, BIDS in $(DEMO_OUT)/bids, ground truth in $(DEMO_OUT)/truth/cohort.json"

bench: setup
	$(SWIFT) build -j $(JOBS) -c release --product TacoBenchmarks
	.build/release/TacoBenchmarks

install: setup
	$(SWIFT) build -j $(JOBS) -c release --product taco
	install -d $(PREFIX)/bin $(PREFIX)/share/taco
	install -m 755 .build/release/taco $(PREFIX)/bin/taco
	rm -rf $(PREFIX)/share/taco/atlases $(PREFIX)/share/taco/rules
	cp -r atlases rules $(PREFIX)/share/taco/

python-env: $(PYTHON_ENV)/.ready

$(PYTHON_ENV)/.ready: requirements-test.txt
	python3 -m venv $(PYTHON_ENV)
	$(PYTHON_ENV)/bin/pip install -q -r requirements-test.txt
	touch $@

clean:
	rm -rf .build $(PYTHON_ENV) out
