#!/usr/bin/env bash
# The whole book on a GPU machine, timed phase by phase, with the GPU benchmarks that bench/README.md quotes: the
# book's training at `paper` extrapolated from measured steps, and processes sharing the GPU.
#
# For a machine whose python3 has torch with CUDA and the scientific stack but neither the notebook stack nor a
# package index (the lent H200s): the missing packages come as wheels in $WHEELS, installed into a venv that also
# sees the machine's own packages (bench/README.md says which wheels). Without a GPU it runs the same way on the CPU
# (a rehearsal).
#
#     WHEELS=.whl bench/gpu_book.sh OUT_DIR [SECONDS] [PROFILE]
#
# SECONDS (default 570) bounds the script: the book gets what the set-up leaves but RESERVE seconds (default 90);
# then, in what remains, the benchmarks named in BENCHES (default "paper default processes"): the book's training
# at `paper` and at `default` extrapolated from measured steps, and processes sharing the GPU. Run again on the same
# machine, it reuses the set-up, resumes the book (a finished book is rebuilt from its stored runs and executed
# pages) and runs the benchmarks asked for. OUT_DIR receives at most eight files.
set -uo pipefail
out=$(realpath -m "${1:?usage: WHEELS=dir bench/gpu_book.sh OUT_DIR [SECONDS] [PROFILE]}")
budget=${2:-570}
profile=${3:-default}
wheels=$(realpath "${WHEELS:?WHEELS: the directory of wheels to install}")
t0=$(date +%s)
left() { echo $((budget - $(date +%s) + t0)); }
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONHASHSEED=0 MPLBACKEND=Agg CROSSLINGUAL_RUNS=$PWD/runs
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; echo "cores: $(nproc)";
  lscpu | grep -i 'model name'; } >"$out/machine.txt" 2>&1

# set-up: a venv over the machine's python; its packages come first through a .pth that adds them as a site
venv=${VENV:-/tmp/crosslingual-gpu}
py=${PYTHON:-python3}
vpy=$venv/bin/python
"$vpy" -c 'import crosslingual, papermill, jupyter_book' 2>/dev/null && echo "set-up: reused $venv" >"$out/setup.log" ||
{
  $py -m venv --without-pip "$venv" &&
    purelib=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') &&
    $py -c 'import site; print("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in site.getsitepackages()))' \
      >"$purelib/machine-packages.pth" &&
    "$vpy" -m pip install -q --no-index --no-deps --no-compile "$wheels"/*.whl &&
    { "$vpy" -m pip install -q --no-index --no-deps --no-build-isolation -e . ||
      echo "$PWD/src" >"$purelib/crosslingual-src.pth"; } &&
    "$vpy" -c 'import crosslingual, papermill, jupyter_book, ipykernel, torch
print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "no GPU")'
} >"$out/setup.log" 2>&1 || { echo "set-up failed:"; tail -40 "$out/setup.log"; exit 1; }
setup=$(($(date +%s) - t0))
echo "set-up: $setup s ($(tail -1 "$out/setup.log"))"

bench() {  # bench SECONDS SCRIPT ARGS...: one benchmark, bounded, into bench.txt
  local limit=$1; shift
  if [ "$limit" -lt 20 ]; then echo "skipped $* (out of time)" | tee -a "$out/bench.txt"; return; fi
  echo "### $* (at most $limit s)" >>"$out/bench.txt"
  timeout "$limit" "$vpy" "$@" >>"$out/bench.txt" 2>&1 || echo "exit $? of $*" >>"$out/bench.txt"
}
reserve=${RESERVE:-90}
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 >"$out/gpu_use.csv" 2>&1 &
smi=$!
start=$(date +%s)
CROSSLINGUAL_SETUP_SECONDS=$setup timeout -k 5 $(($(left) - reserve)) "$vpy" -m crosslingual.cli book --profile "$profile" \
  >"$out/book.log" 2>&1
status=$?
kill $smi 2>/dev/null
pkill -f ipykernel_launcher; pkill -f multiprocessing.spawn  # what a stopped book leaves running
echo "book: exit $status after $(($(date +%s) - start)) s (124: stopped at its time limit)"
tr '\r' '\n' <"$out/book.log" | grep -E "^chapters' runs|^executed|^  failed|Error|^reused" | head -40
sed -n '/^timing summary/,$p' "$out/book.log"
for f in claims.md cost.md; do cp "book/experiments/$f" "$out/" 2>/dev/null; done
cp book/experiments/.claims.jsonl "$out/claims.jsonl" 2>/dev/null

for name in ${BENCHES:-paper default processes}; do
  case $name in
    paper) bench $(($(left) - 25)) bench/book_extrapolation.py --profile paper --steps 10 --budget 35 ;;
    default) bench $(($(left) - 5)) bench/book_extrapolation.py --profile default --steps 10 --budget 12 ;;
    processes) bench $(($(left) - 5)) bench/gpu_processes.py --runs 16 --steps 100 --workers 1,4,8,16 ;;
  esac
done
cat "$out/bench.txt"
echo "script: $(($(date +%s) - t0)) s"
