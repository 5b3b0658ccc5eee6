#!/usr/bin/env bash
# taco correspond against ANTs SyNQuick[s] (antspyx) and SimpleITK (affine + B-spline) on the same prepared
# synthetic subjects, same machine, same run: error against synth's truth and registration time (compare.py).
# Usage: Benchmarks/correspond/run.sh [SUBJECTS] [METHODS...]   (release build; installs antspyx and SimpleITK into .build-python)
set -euo pipefail
cd "$(dirname "$0")/../.."
subjects="${1:-3}"
shift || true
methods=("${@:-taco ants sitk}")
work="${TACO_BENCH_DIR:-/tmp/taco-bench-correspond}"
python="$PWD/.build-python/bin/python"
"$python" -m pip install -q antspyx==0.6.3 SimpleITK==2.5.7 pandas >/dev/null
swift build -c release -j 2 --product taco >/dev/null
taco=".build/release/taco"
if [ ! -d "$work/synth-$subjects" ]; then
  "$taco" synth --out "$work/synth-$subjects" --subjects "$subjects" --seed 11 --formats bids >/dev/null
fi
if [ ! -f "$work/prepared-$subjects/datalist.json" ]; then
  "$taco" prep "$work/synth-$subjects/bids" --out "$work/prepared-$subjects" --key-file "$work/key/key" --progress plain >/dev/null
fi
rm -rf "$work/shards"
export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 OMP_NUM_THREADS=2

/usr/bin/time -f "%e %M" -o "$work/taco.time" "$taco" correspond "$work/prepared-$subjects" --out "$work/shards" --jobs 1 \
  --progress plain | tee "$work/taco.log"
read -r taco_s taco_kb < "$work/taco.time"
echo "taco correspond: ${taco_s} s for ${subjects} subjects in all (planning, registration, shards, pictures), run process peak $((taco_kb / 1024)) MiB"
"$python" Benchmarks/correspond/compare.py "$work/prepared-$subjects" "$work/shards" "$work/synth-$subjects/truth/cohort.json" \
  "$work/key/pseudonyms.tsv" atlases/mni152-2009a-sym/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz ${methods[*]}
