#!/usr/bin/env bash
# Wall time and peak RSS of the offboarding commands as a user runs them:
# `offboard` (classification, plan, report) and `subject` (a search over
# every stored message), on a store of two generated mailboxes of COUNT
# messages each (the second a link to the first, so the leaver's personal
# correspondents are looked up in another mailbox too).
#
# usage: benches/offboard.sh [COUNT] [WORKDIR] [BINARY...]
#   (default 100000, /tmp/mailhygiene-bench, target/release/mailhygiene)
# Several binaries (e.g. an older build) are measured on the same corpus,
# each with a store of its own. Prints one line per command and binary:
# median wall seconds and the largest peak RSS over ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
work=${2:-/tmp/mailhygiene-bench}
shift $(( $# < 2 ? $# : 2 ))
bins=("$@")
[ ${#bins[@]} -gt 0 ] || { cargo build --release --quiet; bins=("$PWD/target/release/mailhygiene"); }
rounds=${ROUNDS:-3}
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
mkdir -p "$work"
corpus="$work/maildir-$count"
[ -d "$corpus" ] || python3 benches/gen_corpus.py "$count" "$corpus"
[ -e "$work/colleague-$count" ] || ln -s "$corpus" "$work/colleague-$count"
export MAILHYGIENE_FINGERPRINT_KEY=benchmark-key-0123456789
measure() { # label, then the command; prints label, median s, max RSS MB
  local label=$1; shift
  local times=() rss=0
  for _ in $(seq "$rounds"); do
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || true
    read -r t m <"$work/time.txt"
    times+=("$t"); (( m > rss )) && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
  printf '%-60s %6ss %5d MB\n' "$label" "$median" $(( rss / 1024 ))
}
for bin in "${bins[@]}"; do
  store="$work/offboard-$(echo "$bin" | md5sum | cut -c1-8).sqlite"
  rm -f "$store" "$store"-* "$work/plan.csv"
  "$bin" scan "maildir:$corpus" "maildir:$work/colleague-$count" --quiet --state "$store" --as-of 2026-11-25 >/dev/null || true
  rm -f "$work/plan"-*.csv
  measure "$bin offboard" bash -c "\"$bin\" offboard maildir:$corpus --case B-\$RANDOM\$RANDOM --reason drift --legal-basis x --notified 2026-11-01 --as-of 2026-11-25 --state $store --plan $work/plan-\$RANDOM\$RANDOM.csv"
  measure "$bin subject --address (no match)" "$bin" subject --address ingen@example.no --state "$store" --format jsonl
  measure "$bin subject --name (no match)" "$bin" subject --name "Ingen Person" --state "$store" --format jsonl
done
