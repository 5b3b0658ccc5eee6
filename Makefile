# TacoKit: setup · build · test · demo · bench · install
# Every target installs what it needs first (`setup` is quiet when nothing is missing).

SWIFT        ?= swift
JOBS         ?= 2
PREFIX       ?= /usr/local
DEMO_OUT     ?= out/demo
PYTHON_ENV   := .build-python

.PHONY: setup build test fuzz demo bench bench-correspond bench-train bench-pytorch bench-study plugin wheel install python-env clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build -j $(JOBS) --product taco

## The tests: Swift tests of every module, with Python cross-checks (nibabel, pydicom, h5py, the plugin through ctypes),
## then a short seeded fuzz pass over the readers (docs/reliability.md).
test: setup python-env
	$(SWIFT) build -j $(JOBS) --build-tests
	$(SWIFT) build -j $(JOBS) --product TacoTrain
	TACO_PYTHON=$(abspath $(PYTHON_ENV))/bin/python $(SWIFT) test --skip-build --disable-xctest
	.build/debug/taco-fuzz --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED)

FUZZ_SECONDS ?= 150
FUZZ_SEED    ?= 1

## A longer fuzz pass (30 minutes by default; another seed explores other mutations): make fuzz FUZZ_SEED=7
fuzz: setup
	$(SWIFT) build -j $(JOBS) --product taco
	$(SWIFT) build -j $(JOBS) --product taco-fuzz
	.build/debug/taco-fuzz --seconds $(or $(FUZZ_LONG_SECONDS),1800) --seed $(FUZZ_SEED) --work out/fuzz

## The main job on embedded data: a synthetic cohort made from the bundled atlas (a hospital-like DICOM
## dump with ground truth), prepared by `taco prep` into voxel-aligned multi-modal sessions, mapped to the
## atlas and packed into HDF5 shards by `taco correspond`, an encoder pre-trained on them by `taco train` with
## the topology losses and again with reconstruction only (a few minutes each on 2 cores), and both compared
## with random initialisation on held-out subjects by `taco evaluate`.
demo: build
	.build/debug/taco synth --out $(DEMO_OUT) --subjects 6 --seed 1 --force
	.build/debug/taco inspect $(DEMO_OUT)/dicom | head -n 12
	.build/debug/taco prep $(DEMO_OUT)/dicom --out $(DEMO_OUT)/prepared --key-file $(DEMO_OUT)-private/prep-key --progress plain
	.build/debug/taco inspect $$(ls $(DEMO_OUT)/prepared/sub-*/ses-*/anat/*_desc-preproc_FLAIR.nii.gz | head -n 1)
	.build/debug/taco correspond $(DEMO_OUT)/prepared --out $(DEMO_OUT)/shards --progress plain
	.build/debug/taco inspect $(DEMO_OUT)/shards/dataset.json --verify
	rm -rf $(DEMO_OUT)/run
	.build/debug/taco train $(DEMO_OUT)/shards --out $(DEMO_OUT)/run --steps 100 --crop 64 --channels 8,16,32,64 --batch-size 2 \
		--warmup-steps 10 --checkpoint-every 50 --progress plain
	rm -rf $(DEMO_OUT)/run-reconstruction-only
	.build/debug/taco train $(DEMO_OUT)/shards --out $(DEMO_OUT)/run-reconstruction-only --steps 100 --crop 64 --channels 8,16,32,64 --batch-size 2 \
		--warmup-steps 10 --checkpoint-every 50 --progress plain --ablation reconstruction-only
	.build/debug/taco evaluate $(DEMO_OUT)/run $(DEMO_OUT)/run-reconstruction-only $(DEMO_OUT)/shards --out $(DEMO_OUT)/evaluation \
		--synth-truth $(DEMO_OUT)/truth --key-file $(DEMO_OUT)-private/prep-key
	@echo "demo: DICOM dump in $(DEMO_OUT)/dicom, ground truth in $(DEMO_OUT)/truth/cohort.json,"
	@echo "      prepared sessions in $(DEMO_OUT)/prepared (prep-report.json, datalist.json, qc.png per session),"
	@echo "      shards in $(DEMO_OUT)/shards (dataset.json; pictures in qc/: <subject>_atlas.png, cohort-mean.png),"
	@echo "      training runs in $(DEMO_OUT)/run (TACO) and $(DEMO_OUT)/run-reconstruction-only (loss.png, metrics.jsonl, model.safetensors),"
	@echo "      the comparison of both with random init in $(DEMO_OUT)/evaluation (evaluation.json, evaluation.png)"

bench: setup python-env
	$(SWIFT) build -j $(JOBS) -c release --product TacoBenchmarks
	.build/release/TacoBenchmarks
	Benchmarks/prep/run.sh 4

## taco correspond (greedy and ITK's SyN) against ANTs SyNQuick (antspyx) and greedy (picsl-greedy) on 3 synthetic subjects (about 40 minutes).
bench-correspond: setup python-env
	Benchmarks/correspond/run.sh 3

## The stream and the losses (crop pairs/s against memcpy and the .nii.gz path; losses against their GEMMs).
bench-train: setup
	$(SWIFT) build -j $(JOBS) -c release --product TrainBenchmarks
	.build/release/TrainBenchmarks

## tacokit.torch's losses against the plugin's and against per-token Python loops (T = 512, C = 256); crop pairs
## into torch through a DataLoader (0, 1, 2 workers) against the native stream; a pretrain.py step's time split.
bench-pytorch: setup python-env
	$(SWIFT) build -j $(JOBS) -c release --product TacoTrain
	$(SWIFT) build -j $(JOBS) -c release --product TrainBenchmarks
	$(PYTHON_ENV)/bin/python Benchmarks/pytorch/losses.py .build/release/libTacoTrain.so
	.build/release/TrainBenchmarks --write-shards out/bench-pytorch/shards
	$(PYTHON_ENV)/bin/python Benchmarks/pytorch/loader.py .build/release/libTacoTrain.so out/bench-pytorch/shards

## The losses' study on the demo's shards (run `make demo` first): TACO's weights and reconstruction only, three seeds
## each, pre-trained by pretrain.py and scored by taco evaluate (docs/method-study.md).
bench-study: setup python-env
	$(SWIFT) build -j $(JOBS) -c release --product taco
	$(SWIFT) build -j $(JOBS) -c release --product TacoTrain
	TACO_TRAIN_LIBRARY=$(abspath .build/release/libTacoTrain.so) $(PYTHON_ENV)/bin/python Benchmarks/study/topology.py $(DEMO_OUT)/shards \
		--taco .build/release/taco --out out/study --truth $(DEMO_OUT)/truth --key-file $(DEMO_OUT)-private/prep-key --curve 50 \
		--settings taco,reconstruction-only,i0.1-e0.1

## The trainer plugin (libTacoTrain.so + include/taco_train.h) for PyTorch and other trainers: docs/plugin.md.
plugin: setup
	$(SWIFT) build -j $(JOBS) -c release --product TacoTrain
	@echo "plugin: .build/release/libTacoTrain.so, header include/taco_train.h, Python wrapper python/taco_plugin.py"

## The tacokit wheel (dist/): the Python package with libTacoTrain.so and the Swift runtime, OpenBLAS and libnifti
## it needs, for machines without the Swift toolchain (they need serial HDF5: Debian/Ubuntu libhdf5-103-1).
wheel: setup python-env
	$(SWIFT) build -j $(JOBS) -c release --product TacoTrain
	$(PYTHON_ENV)/bin/python scripts/build_wheel.py .build/release/libTacoTrain.so dist

install: setup
	$(SWIFT) build -j $(JOBS) -c release --product taco
	install -d $(PREFIX)/bin $(PREFIX)/share/taco
	$(SWIFT) build -j $(JOBS) -c release --product TacoTrain
	install -d $(PREFIX)/lib $(PREFIX)/include
	install -m 755 .build/release/taco $(PREFIX)/bin/taco
	install -m 755 .build/release/libTacoTrain.so $(PREFIX)/lib/libTacoTrain.so
	install -m 644 include/taco_train.h $(PREFIX)/include/taco_train.h
	rm -rf $(PREFIX)/share/taco/atlases $(PREFIX)/share/taco/rules
	cp -r atlases rules $(PREFIX)/share/taco/

python-env: $(PYTHON_ENV)/.ready

$(PYTHON_ENV)/.ready: requirements-test.txt python/pyproject.toml
	python3 -m venv $(PYTHON_ENV)
	$(PYTHON_ENV)/bin/pip install -q -r requirements-test.txt
	$(PYTHON_ENV)/bin/pip install -q -e ./python
	touch $@

clean:
	rm -rf .build $(PYTHON_ENV) out dist
