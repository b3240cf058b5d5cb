#!/bin/bash
# Two builds side by side, alternated so drift on a shared machine hits both alike:
#   bench/compare-builds.sh OLD_TREE NEW_TREE [ROUNDS] [TARGETS]
# Each tree is a built checkout (npm run build); every round runs OLD then NEW, one repeat each
# (`node dist/bench/run.js --only TARGETS --repeats 1 --duration 6`), and prints their rows.
# Compare the medians over the rounds; the benches bind the same 127.0.40.x addresses, so
# nothing else may run one meanwhile.
set -euo pipefail
old=${1:?usage: compare-builds.sh OLD_TREE NEW_TREE [ROUNDS] [TARGETS]}
new=${2:?usage: compare-builds.sh OLD_TREE NEW_TREE [ROUNDS] [TARGETS]}
rounds=${3:-5}
targets=${4:-nginx,trellis-1-hop}
for tree in "$old" "$new"; do
  [ -f "$tree/dist/bench/run.js" ] || { echo "compare-builds: $tree/dist/bench/run.js is missing (run npm run build there)" >&2; exit 2; }
done
pattern="^($(echo "$targets" | tr ',' '|')) "
for i in $(seq 1 "$rounds"); do
  for tree in "$old" "$new"; do
    echo "== round $i/$rounds: $tree"
    (cd "$tree" && node dist/bench/run.js --only "$targets" --repeats 1 --duration 6 2>&1 | grep -E "$pattern")
  done
done
