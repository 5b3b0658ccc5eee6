#!/usr/bin/env bash
# taco correspond (the greedy default and ITK's SyN) against ANTs SyNQuick[s] (antspyx) and greedy (picsl-greedy)
# on the same prepared synthetic subjects, same machine, same run, 2 threads each: error against synth's truth,
# registration time and peak memory (compare.py). Add `sitk` for SimpleITK's affine + B-spline.
# Usage: Benchmarks/correspond/run.sh [SUBJECTS] [METHODS...]   (release build; installs the peers into .build-python)
set -euo pipefail
cd "$(dirname "$0")/../.."
subjects="${1:-3}"
shift || true
methods=("${@:-taco taco-syn-itk ants greedy}")
work="${TACO_BENCH_DIR:-/tmp/taco-bench-correspond}"
python="$PWD/.build-python/bin/python"
"$python" -m pip install -q antspyx==0.6.3 picsl-greedy==1.4.0.3 SimpleITK==2.5.7 pandas >/dev/null
swift build -c release -j 2 --product taco >/dev/null
taco=".build/release/taco"
if [ ! -d "$work/synth-$subjects" ]; then
  "$taco" synth --out "$work/synth-$subjects" --subjects "$subjects" --seed 11 --formats bids >/dev/null
fi
if [ ! -f "$work/prepared-$subjects/datalist.json" ]; then
  "$taco" prep "$work/synth-$subjects/bids" --out "$work/prepared-$subjects" --key-file "$work/key/key" --progress plain >/dev/null
fi
export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 OMP_NUM_THREADS=2
arguments=()
for method in ${methods[*]}; do
  case "$method" in
    taco|taco-syn-itk)
      deformable=greedy
      [ "$method" = taco-syn-itk ] && deformable=syn-itk
      rm -rf "$work/shards-$method"
      /usr/bin/time -f "%e %M" -o "$work/$method.time" "$taco" correspond "$work/prepared-$subjects" --out "$work/shards-$method" \
        --deformable "$deformable" --jobs 1 --progress plain | tee "$work/$method.log"
      read -r seconds kb < "$work/$method.time"
      echo "$method: ${seconds} s for ${subjects} subjects in all (planning, registration, shards, pictures), run process peak $((kb / 1024)) MiB"
      arguments+=("$method=$work/shards-$method:$work/$method.log") ;;
    *) arguments+=("$method") ;;
  esac
done
TACO_BENCH_SUMMARY="$work/comparison.json" "$python" Benchmarks/correspond/compare.py "$work/prepared-$subjects" \
  "$work/synth-$subjects/truth/cohort.json" "$work/key/pseudonyms.tsv" \
  atlases/mni152-2009a-sym/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz "${arguments[@]}"
