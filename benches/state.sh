#!/usr/bin/env bash
# The state-scale benchmark: every command a scheduler or a person runs on a
# stored mailbox, measured as a process (wall time, peak RSS), on a generated
# Maildir of COUNT messages (benches/gen_corpus.py makes it once; 1,000,000
# takes about 6 GB and a quarter of an hour).
#
# usage: benches/state.sh [COUNT] [WORKDIR] [BINARY]
#   (default 100000, /tmp/mailhygiene-bench, target/release/mailhygiene)
# ROUNDS (default 3) runs of each; prints the median wall time and the
# largest peak RSS, then the ratios the state-scale issue sets:
#   first stateful scan / one-off scan            (goal <= 1.2)
#   rescan --changes-only / first stateful scan   (goal <= 0.05)
#   rescan printing the summary / first scan      (goal <= 0.10)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
work=${2:-/tmp/mailhygiene-bench}
bin=${3:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=$PWD/target/release/mailhygiene; fi
rounds=${ROUNDS:-3}
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
mkdir -p "$work"
corpus="$work/maildir-$count"
[ -d "$corpus" ] || python3 benches/gen_corpus.py "$count" "$corpus"
export MAILHYGIENE_FINGERPRINT_KEY=benchmark-key-0123456789
store="$work/state-$count.sqlite"
asof=(--as-of 2026-11-25)
# Warm the page cache: every contender reads the corpus from memory.
find "$corpus" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true

declare -A secs
measure() { # name, prepare command ('' for none), then the command
  local name=$1 prepare=$2; shift 2
  local times=() rss=0
  for _ in $(seq "$rounds"); do
    [ -z "$prepare" ] || eval "$prepare"
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || true
    read -r t m <"$work/time.txt"
    times+=("$t"); (( m > rss )) && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
  secs[$name]=$median
  printf '%-34s %8ss %6d MB\n' "$name" "$median" $(( rss / 1024 ))
}
fresh="rm -f $store $store-wal $store-shm $store.lock $store.audit.log"

echo "$count messages ($bin)"
measure "one-off scan (--no-state)" "" "$bin" scan "maildir:$corpus" --no-state --quiet --format jsonl "${asof[@]}"
measure "first scan into a fresh store" "$fresh" "$bin" scan "maildir:$corpus" --state "$store" --quiet --format jsonl "${asof[@]}"
measure "rescan --changes-only" "" "$bin" scan "maildir:$corpus" --state "$store" --quiet --changes-only --format jsonl "${asof[@]}"
measure "rescan (mailbox summary)" "" "$bin" scan "maildir:$corpus" --state "$store" --quiet "${asof[@]}"
measure "rescan next day --changes-only" "" "$bin" scan "maildir:$corpus" --state "$store" --quiet --changes-only --format jsonl --as-of 2026-11-26
measure "report --format jsonl" "" "$bin" report --state "$store" --format jsonl "${asof[@]}"
measure "report --compliance" "" "$bin" report --compliance --state "$store" --format json "${asof[@]}"
measure "subject --address (no match)" "" "$bin" subject --address ingen@example.no --state "$store" --format jsonl
rm -f "$work"/bench-plan-*.csv
measure "offboard (case, plan, report)" "" bash -c "\"$bin\" offboard maildir:$corpus --case B-\$RANDOM\$RANDOM --reason drift --legal-basis x --notified 2026-11-01 --as-of 2026-11-25 --state $store --plan $work/bench-plan-\$RANDOM\$RANDOM.csv"

ratio() { python3 -c "print(f'{float($1) / float($2):.3f}')"; }
echo
echo "first scan / one-off:            $(ratio "${secs[first scan into a fresh store]}" "${secs[one-off scan (--no-state)]}") (goal <= 1.2)"
echo "rescan --changes-only / first:   $(ratio "${secs[rescan --changes-only]}" "${secs[first scan into a fresh store]}") (goal <= 0.05)"
echo "rescan with summary / first:     $(ratio "${secs[rescan (mailbox summary)]}" "${secs[first scan into a fresh store]}") (goal <= 0.10)"
