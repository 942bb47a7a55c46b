#!/bin/bash
# `make test` from fresh clones, N times in a row, each timed with the load average beside it.
#   bench/fresh_clone_test.sh [RUNS] [WORKDIR]       (default 1 run, in a temporary folder)
# Start another job first (e.g. `python -m bench --sizes 10000000 --no-stories`) to time it under load.
set -u
runs=${1:-1}
work=${2:-$(mktemp -d)}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
for i in $(seq 1 "$runs"); do
  d="$work/clone-$i"; rm -rf "$d"; git clone -q "$repo" "$d"
  echo "run $i: $(git -C "$d" rev-parse --short HEAD), start $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s); (cd "$d" && make test > make-test.log 2>&1); rc=$?
  echo "run $i: exit $rc, $(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg): $(grep -E '[0-9]+ passed' "$d/make-test.log" | tail -1)"
done
