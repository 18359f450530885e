#!/usr/bin/env bash
# The figures of the README's speed table: medians of interleaved rounds of
# the one-off scan against ripgrep over the same files, optionally beside
# another binary in the same rounds, and (INSTRUCTIONS=1) instruction counts.
#
# usage: benches/interleaved.sh [COUNT] [OLD_BINARY]
#   COUNT       messages in the generated Maildir (default 10000)
#   OLD_BINARY  a second mailhygiene timed in the same rounds (a release
#               build of an earlier commit, say)
# environment: ROUNDS (default 15), WORKDIR (default /tmp/mailhygiene-bench),
#   MH_BENCH_OFFICE=1|real (the corpus with office documents, as compare.sh),
#   INSTRUCTIONS=1 (also count instructions with valgrind's cachegrind:
#   deterministic where the clock is not).
#
# This machine's speed drifts within an hour (other guests share its cores):
# each round runs every contender once, in turn, so drift hits them alike,
# and the medians are over the same rounds. Ratios are of medians.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
old=${2:-}
rounds=${ROUNDS:-15}
work=${WORKDIR:-/tmp/mailhygiene-bench}
command -v rg >/dev/null || { apt-get update -qq && apt-get install -y -qq ripgrep >/dev/null; }
if [ "${INSTRUCTIONS:-}" = 1 ] && ! command -v valgrind >/dev/null; then
  apt-get install -y -qq valgrind >/dev/null
fi
. benches/corpus.sh

names=("mailhygiene" "ripgrep --hidden")
cmds=("$bin scan maildir:$corpus --no-state --format jsonl --quiet --as-of 2026-11-25"
      "rg -c --no-ignore --hidden \\d{6}[\\x20-]?\\d{5} $corpus")
if [ -n "$old" ]; then
  names+=("previous binary")
  cmds+=("$old scan maildir:$corpus --no-state --format jsonl --quiet --as-of 2026-11-25")
fi

times=$(mktemp)
for ((r = 1; r <= rounds; r++)); do
  for i in "${!cmds[@]}"; do
    start=$(date +%s%N)
    # Word splitting of the command is wanted (the pattern writes its space
    # as \x20); globbing is not.
    set -f
    ${cmds[$i]} > /dev/null
    set +f
    end=$(date +%s%N)
    echo "$i $(( (end - start) / 1000 ))" >> "$times"
  done
done

python3 - "$times" "${names[@]}" <<'EOF'
import statistics, sys
path, names = sys.argv[1], sys.argv[2:]
samples = {}
for line in open(path):
    i, us = line.split()
    samples.setdefault(int(i), []).append(int(us) / 1e6)
median = {i: statistics.median(v) for i, v in samples.items()}
rounds = len(samples[0])
print("medians of %d interleaved rounds (warm cache):" % rounds)
for i, name in enumerate(names):
    lo, hi = min(samples[i]), max(samples[i])
    print("  %-18s %.3f s  (range %.3f-%.3f)" % (name, median[i], lo, hi))
print("  mailhygiene / ripgrep: %.2fx" % (median[0] / median[1]))
if len(names) > 2:
    print("  previous binary / ripgrep: %.2fx" % (median[2] / median[1]))
EOF
rm -f "$times"

if [ "${INSTRUCTIONS:-}" = 1 ]; then
  echo "instructions (valgrind --tool=cachegrind, millions):"
  for i in "${!cmds[@]}"; do
    set -f
    n=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null ${cmds[$i]} 2>&1 >/dev/null \
        | sed -n 's/.*I *refs: *//p' | tr -d ',')
    set +f
    echo "  ${names[$i]}: $(( n / 1000000 )) M"
  done
fi
