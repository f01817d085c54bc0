#!/usr/bin/env bash
# Runs one fuzzing target under afl-fuzz for a given time, then prints executions per second, paths, crashes and
# hangs, and replays every crash through the target so its oracle message shows. Exits 1 when afl-fuzz found a crash
# or a hang. Needs afl++ (Debian: apt-get install -y afl++) and the .NET SDK; see docs/fuzzing.md.
#
#   tests/fuzz/run.sh TARGET SECONDS      TARGET: event, record, kpl, window, aggregate, processor
#   tests/fuzz/run.sh --build             only build and instrument (then targets can run side by side: each has
#                                         its own findings directory and log)
#
# Environment: FUZZ_OUT (default artifacts/fuzz) holds the instrumented build and each target's findings;
# FUZZ_REBUILD=1 rebuilds and re-instruments (after a source change); FUZZ_RESUME=1 continues a previous run of the
# target from its queue instead of starting over from the seed corpus.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh TARGET SECONDS | --build}
out=${FUZZ_OUT:-artifacts/fuzz}
bin="$out/bin"
if [ "$target" != --build ]; then
  seconds=${2:?usage: tests/fuzz/run.sh TARGET SECONDS}
  [ -d "tests/fuzz/corpus/$target" ] || { echo "unknown target '$target' (see tests/fuzz/corpus/)" >&2; exit 2; }
  command -v afl-fuzz >/dev/null || { echo "afl-fuzz is missing: apt-get install -y afl++" >&2; exit 2; }
fi

# Build once, then instrument Analytics.Core.dll in place (instrumenting twice fails, hence the marker). Runs started
# side by side with no build yet take turns here (a lock beside the build): the first builds, the others find its
# marker. FUZZ_REBUILD=1 beside a running target still replaces that target's binaries under it: do not.
mkdir -p "$out"
exec 9>"$out/.build.lock"
flock 9
if [ "${FUZZ_REBUILD:-0}" = 1 ] || [ ! -f "$bin/.instrumented" ]; then
  rm -rf "$bin"
  dotnet publish tests/fuzz/Analytics.Core.Fuzz.csproj -c Release -o "$bin" -p:UseAppHost=true --nologo -v quiet
  if [ ! -x "$out/tools/sharpfuzz" ]; then
    dotnet tool install --tool-path "$out/tools" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
  fi
  "$out/tools/sharpfuzz" "$bin/Analytics.Core.dll"
  touch "$bin/.instrumented"
fi
flock -u 9
exec 9>&-
[ "$target" != --build ] || exit 0

findings="$out/$target"
input=(-i "tests/fuzz/corpus/$target")
if [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "$findings/default/queue" ]; then
  input=(-i -)
else
  rm -rf "$findings"
fi

# .NET is not an afl-instrumented binary (SharpFuzz reports coverage itself); the machine is shared, so no CPU
# binding; crashes are exceptions reported by SharpFuzz, not core dumps.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_AUTORESUME=1 DOTNET_TieredPGO=0
run_afl() {
  afl-fuzz "${input[@]}" -o "$findings" -x tests/fuzz/analytics.dict -t 5000 -m none -V "$seconds" \
    -- "$bin/Analytics.Core.Fuzz" "$target" >"$out/$target.log" 2>&1
}
# On a loaded machine afl's first dry run has twice seen no coverage from the harness's first seed ("No
# instrumentation detected": a start-up of the fork server, not a finding; the same build passed a minute later).
# That one failure is tried again, once; a crash, a hang or any other failure is not.
run_afl || {
  if grep -q "No instrumentation detected" "$out/$target.log"; then
    echo "afl-fuzz saw no coverage in its dry run; trying once more" >&2
    run_afl
  else
    false
  fi
} || {
  echo "afl-fuzz failed; its log:" >&2
  tail -40 "$out/$target.log" >&2
  exit 2
}

stats="$findings/default/fuzzer_stats"
stat() { sed -nE "s/^$1 *: *(.*)$/\1/p" "$stats"; }
echo "$target: $(stat run_time) s, $(stat execs_done) executions, $(stat execs_per_sec) execs/s, $(stat corpus_count) paths ($(stat corpus_found) new), $(stat saved_crashes) crashes, $(stat saved_hangs) hangs, edges $(stat edges_found)"

status=0
for kind in crashes hangs; do
  files=$(find "$findings/default/$kind" -type f -name 'id:*' 2>/dev/null | sort)
  if [ -n "$files" ]; then
    status=1
    echo "$target: $kind in $findings/default/$kind:"
    # shellcheck disable=SC2086
    "$bin/Analytics.Core.Fuzz" "$target" --replay $files 2>&1 | grep -E '^(FAIL|replayed)' || true
  fi
done
exit $status
