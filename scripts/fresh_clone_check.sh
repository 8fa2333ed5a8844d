#!/usr/bin/env bash
# What a newcomer sees: clone this repository into a temporary folder (with ../shared beside
# it, as on CI), run the README's two commands there with an empty BERTCLF_CACHE, and report
# each one's exit code and wall time. With --full, also score the demo run on the whole IMDB
# test split (25,000 reviews) between the two.
#
# Usage: scripts/fresh_clone_check.sh [--full] [--keep]
#   --keep  leave the temporary folder (clone, cache, logs) in place; it is printed either way.
set -uo pipefail

full=0 keep=0
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--full] [--keep]" >&2; exit 2 ;;
  esac
done

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
shared="$(dirname "$repo")/shared"
work=$(mktemp -d -t bertclf-fresh-XXXXXX)  # under $TMPDIR, else the system default
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/main" || exit 1
[ -d "$shared" ] && ln -s "$shared" "$work/shared"
export BERTCLF_CACHE="$work/cache"
unset BERTCLF_DATA_MIRROR BERTCLF_DATA  # the Makefile points the data root at ../shared/data
cd "$work/main" || exit 1
echo "fresh clone of $(git rev-parse --short HEAD) in $work/main; BERTCLF_CACHE=$BERTCLF_CACHE (empty)"
echo "python: $(python3 --version 2>&1); logs: $work/*.log"

status=0
timed() {  # timed NAME COMMAND...: runs it, logs it, prints exit code and wall time
  local name=$1; shift
  local start end code
  start=$(date +%s)
  "$@" >"$work/$name.log" 2>&1
  code=$?
  end=$(date +%s)
  echo "$name: exit $code, $((end - start)) s wall"
  [ "$code" = 0 ] || { status=1; tail -n 5 "$work/$name.log" | sed 's/^/    /'; }
  return "$code"
}

# make demo under GNU time: its peak memory (the largest process) goes into the README's needs.
if timed make-demo /usr/bin/time -v -o "$work/make-demo.time" make demo; then
  echo "    peak memory (largest process): $(awk -F': ' '/Maximum resident set size/ {printf "%.1f GB", $2 / 1048576}' "$work/make-demo.time");" \
       "environment $(du -sh .venv | cut -f1), cache $(du -sh "$BERTCLF_CACHE" | cut -f1)"
  run=$(ls -d runs/*/ | head -n 1)
  python3 - "$run" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1] + "metrics.json"))
print(f"    run {sys.argv[1]}: fit {metrics['timing']['fit_seconds']:.0f} s; "
      f"test accuracy {metrics['test']['accuracy']:.4f} on {metrics['test']['examples']} reviews (sample)")
PY
  if [ "$full" = 1 ] && timed evaluate-full .venv/bin/bertclf evaluate --full --json; then
    python3 - "${run}eval-test-full.json" <<'PY'
import json, sys
scores = json.load(open(sys.argv[1]))
print(f"    accuracy {scores['accuracy']:.4f} (macro F1 {scores['macro_f1']:.4f}) on {scores['examples']} test reviews")
PY
  fi
fi
timed make-test make test && grep -E "^=+ .*(passed|failed).* =+$" "$work/make-test.log" | tail -n 1 | sed 's/^/    /'
exit "$status"
