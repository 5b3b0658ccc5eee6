#!/usr/bin/env bash
# taco prep against dcm2niix + SimpleITK (reference_pipeline.py) on one synthetic dump, same machine, same run.
# Usage: Benchmarks/prep/run.sh [SUBJECTS]   (release build; needs .build-python with dcm2niix and SimpleITK)
set -euo pipefail
cd "$(dirname "$0")/../.."
subjects="${1:-4}"
work="${TACO_BENCH_DIR:-/tmp/taco-bench-prep}"
python="$PWD/.build-python/bin/python"
"$python" -m pip install -q dcm2niix==1.0.20260724 SimpleITK==2.5.7 numpy >/dev/null
swift build -c release -j 2 --product taco >/dev/null
taco=".build/release/taco"
if [ ! -d "$work/dump-$subjects" ]; then
  "$taco" synth --out "$work/dump-$subjects" --subjects "$subjects" --seed 11 --formats dicom >/dev/null
fi
rm -rf "$work/taco" "$work/reference" "$work/key"
export PATH="$PWD/.build-python/bin:$PATH"

/usr/bin/time -f "%e %M" -o "$work/taco.time" "$taco" prep "$work/dump-$subjects/dicom" --out "$work/taco" \
  --key-file "$work/key/key" --rules Benchmarks/prep/three-modalities.yaml --progress plain | tee "$work/taco.log"
"$python" Benchmarks/prep/accuracy.py "$work/taco" "$work/dump-$subjects/truth/cohort.json" "$work/key/pseudonyms.tsv"
/usr/bin/time -f "%e %M" -o "$work/reference.time" "$python" Benchmarks/prep/reference_pipeline.py \
  "$work/dump-$subjects/dicom" "$work/reference" | tee "$work/reference.json"

read -r taco_s taco_kb < "$work/taco.time"
read -r ref_s ref_kb < "$work/reference.time"
sessions=$(grep -c "prepared in" "$work/taco.log" || true)
echo
# awk for the arithmetic: it is in every Debian base system (bc is not).
awk -v ts="$taco_s" -v tk="$taco_kb" -v rs="$ref_s" -v rk="$ref_kb" -v n="$sessions" 'BEGIN {
  printf "taco prep          %6.1f s for %d sessions (%.1f s/session), largest process %4.0f MiB\n", ts, n, ts / n, tk / 1024
  printf "dcm2niix+SimpleITK %6.1f s (%.1f s/session), peak %4.0f MiB\n", rs, rs / n, rk / 1024
  printf "ratio taco / reference: %.2f (aim: 0.33 or less)\n", ts / rs
}'
grep -E "scanned|worker time" "$work/taco.log" || true
