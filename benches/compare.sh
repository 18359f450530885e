#!/usr/bin/env bash
# The speed and memory benchmark of issue 2: mailhygiene against ripgrep (the
# I/O + regex limit) and a straightforward Python scanner over the same
# generated Maildir, plus peak memory at two mailbox sizes.
#
# usage: benches/compare.sh [COUNT] [WORKDIR]     (default 10000, /tmp/mailhygiene-bench)
# MH_BENCH_OFFICE=1 (small documents on 8% of messages) or =real (documents
# as office programs write them: embedded fonts, styles) picks the corpus.
# Installs ripgrep, hyperfine, GNU time and python-stdnum when missing (and
# reportlab, python-docx, openpyxl for the real documents).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
work=${2:-/tmp/mailhygiene-bench}
if ! command -v rg >/dev/null || ! command -v hyperfine >/dev/null || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq ripgrep hyperfine time >/dev/null
fi
python3 -c 'import stdnum' 2>/dev/null || pip install -q python-stdnum
. benches/corpus.sh

# Maildir++ keeps every folder but INBOX in a dot-directory, which ripgrep
# skips by default: the command as the issue writes it reads a quarter of the
# messages. `--hidden` makes it read the same files as the other contenders;
# both are timed so the difference stays visible.
all=$(find "$corpus" -type f | wc -l)
seen=$(rg --files "$corpus" | wc -l)
seen_hidden=$(rg --files --hidden "$corpus" | wc -l)
echo "files: $all; ripgrep reads $seen by default, $seen_hidden with --hidden"

# `mailhygiene` is the one-off scan (--no-state: read, detect, print), the
# same work as the other contenders; `mailhygiene + inventory` is a first
# scan that also records every message in a fresh state database. The
# rescan is timed on its own below.
state=$work/state.sqlite
fresh="rm -f $state $state-wal $state-shm"
hyperfine --warmup 1 --runs 5 --prepare "$fresh" --export-json "$work/speed-$count.json" \
  -n mailhygiene "$bin scan maildir:$corpus --no-state --format jsonl --quiet --as-of 2026-11-25 > /dev/null" \
  -n "mailhygiene + inventory" "$bin scan maildir:$corpus --state $state --format jsonl --quiet --as-of 2026-11-25 > /dev/null" \
  -n "ripgrep --hidden (same files)" "rg --hidden -c '\\d{6}[ -]?\\d{5}' $corpus > /dev/null" \
  -n "ripgrep (INBOX only)" "rg -c '\\d{6}[ -]?\\d{5}' $corpus > /dev/null" \
  -n python "python3 benches/baseline_scanner.py $corpus > /dev/null"
# Medians, not hyperfine's means: one slow run on a shared machine moves a
# mean of five. (The README's speed table comes from benches/interleaved.sh:
# medians of interleaved rounds.)
python3 - "$work/speed-$count.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
for r in results:
    print("%-32s median %.3f s  (min %.3f, max %.3f)  %.2fx mailhygiene" % (
        r["command"], r["median"], r["min"], r["max"], r["median"] / base))
EOF

echo
echo "rescan of the unchanged Maildir (nothing read; flags refreshed, the whole inventory printed):"
$bin scan "maildir:$corpus" --state "$state" --quiet --as-of 2026-11-25 > /dev/null
hyperfine --warmup 1 --runs 5 \
  -n "mailhygiene rescan" "$bin scan maildir:$corpus --state $state --format jsonl --quiet --as-of 2026-11-25 > /dev/null"

echo
echo "peak RSS (KB) of mailhygiene scan over $count messages:"
$fresh
/usr/bin/time -f "%M" "$bin" scan "maildir:$corpus" --state "$state" --format jsonl --quiet --as-of 2026-11-25 2>&1 >/dev/null | tail -1
