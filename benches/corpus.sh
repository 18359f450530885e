# Sourced by the speed benchmarks (compare.sh, interleaved.sh): the generated
# Maildir of $count messages under $work (MH_BENCH_OFFICE picks the corpus
# with office documents), the release binary as $bin, the benchmark key,
# and the page cache warmed so every contender reads from memory.
if [ "${MH_BENCH_OFFICE:-}" = real ]; then
  python3 -c 'import reportlab, docx, openpyxl' 2>/dev/null || pip install -q reportlab python-docx openpyxl
fi
mkdir -p "$work"
corpus="$work/maildir-$count${MH_BENCH_OFFICE:+-office-$MH_BENCH_OFFICE}"
[ -d "$corpus" ] || python3 benches/gen_corpus.py "$count" "$corpus"
cargo build --release --quiet
bin=$PWD/target/release/mailhygiene
export MAILHYGIENE_FINGERPRINT_KEY=benchmark-key-0123456789
cat "$corpus"/*/* "$corpus"/.*/*/* >/dev/null 2>&1 || true
