#!/usr/bin/env bash
# Runs AFL++ on each fuzz target for FUZZ_SECONDS and prints one line per target. Called by `make fuzz`, which has
# published tests/Aegis.Fuzz to $FUZZ_DIR/bin and instrumented the Aegis assemblies there with sharpfuzz.
# Crashes are copied to $FUZZ_DIR/crashes/TARGET/: replay one with the uninstrumented build (instrumented assemblies
# only run under afl-fuzz), which prints the exception:
#   dotnet run --project tests/Aegis.Fuzz -- TARGET --replay FILE
# and, once fixed, keep it as tests/Aegis.Fuzz/regressions/TARGET/NAME (the replay test runs it on every `make test`).
set -euo pipefail
fuzz_dir=${FUZZ_DIR:?}
seconds=${FUZZ_SECONDS:-60}
corpus=tests/Aegis.Fuzz/corpus
targets=${FUZZ_TARGETS:-$(dotnet "$fuzz_dir/bin/Aegis.Fuzz.dll" --list)}

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AEGIS_REPOSITORY=$PWD DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_TieredPGO=0

stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$2"; }
printf '%-14s %10s %9s %7s %8s %6s\n' target execs/s seconds paths crashes hangs > "$fuzz_dir/summary.txt"
for target in $targets; do
  out=$fuzz_dir/findings/$target
  rm -rf "$out"
  mkdir -p "$out"
  echo "fuzzing $target for ${seconds}s (log: $out/afl.log)"
  # -V bounds the campaign; -t is generous because a .NET input can hit a first-call JIT pause.
  afl-fuzz -V "$seconds" -i "$corpus/$target" -o "$out" -t 10000 -m none -- dotnet "$fuzz_dir/bin/Aegis.Fuzz.dll" "$target" > "$out/afl.log" 2>&1 || {
    echo "afl-fuzz failed for $target; the end of its log:"; tail -20 "$out/afl.log"; exit 1; }
  stats=$out/default/fuzzer_stats
  crashes=$(stat saved_crashes "$stats")
  if [ "${crashes:-0}" != 0 ]; then
    mkdir -p "$fuzz_dir/crashes/$target"
    cp "$out"/default/crashes/id:* "$fuzz_dir/crashes/$target/"
  fi
  printf '%-14s %10s %9s %7s %8s %6s\n' "$target" "$(stat execs_per_sec "$stats")" "$(stat run_time "$stats")" \
    "$(stat corpus_count "$stats")" "${crashes:-0}" "$(stat saved_hangs "$stats")" >> "$fuzz_dir/summary.txt"
done
echo
cat "$fuzz_dir/summary.txt"
