#!/usr/bin/env bash
# Allocation gate: fails when the pipeline allocates per record.
#
# Runs EventBenchmarks.Pipeline at 100 and 10,000 records (BenchmarkDotNet short job, MemoryDiagnoser, JSON
# export), then computes bytes per record = (Allocated(10,000) - Allocated(100)) / 9,900 from the exported
# figures. A fixed per-batch amount cancels out: a change of the fixed amount per event passes this gate (it is
# printed, not checked). Allocation is deterministic, time is not: this gate never looks at time.
#
# Threshold: 0.01 B per record, not 0. The pipeline's own allocation is exactly the same per event at both sizes
# (measured in-process with GC.GetAllocatedBytesForCurrentThread: `--alloc`; the amounts recorded over time are in
# docs/performance.md), but BenchmarkDotNet's memory iteration adds a fixed 150 to 320 B of harness allocation that
# it divides by the iteration's operation count: 4,096 operations at 100 records, only 16 at 10,000, so the
# exported per-operation figure at 10,000 reads up to about 20 B high, i.e. 0.002 B per record. Those counts came
# from BenchmarkDotNet's pilot stage, which times the first operations: on a busy machine, or with the JIT still cold,
# it chose 4 operations per iteration at 10,000 records (CI on 2026-12-07: 110 to 164 ms per pilot operation), the
# harness's bytes read 168 B per operation, 0.017 B per record, and the gate failed with no change to the library.
# So the count is fixed at 64 operations per iteration for both sizes (--invocationCount): at most about 5 B per
# operation of harness bytes, 0.0005 B per record. With two other processes keeping both cores busy the gate then read
# 1,472 B at both sizes (2026-12-07). 0.01 B per record
# is 99 B per 10,000-record event: one object per record (at least 24 B) fails by a factor of 2,400. A rarer object
# fails only when the 10,000-record event makes at least five more of them than the 100-record one (5 x 24 B =
# 120 B, 0.012 B per record): one 24-byte object per 2,000 records is caught, one per 2,400 records (4 x 24 B =
# 96 B, 0.0097 B per record) is not, unless the harness's own bytes happen to push it over.
#
# Usage: benchmarks/check-allocations.sh            (from anywhere; 67 s on 2 cores, build included, when last
#                                                    timed on 2026-11-27, not since)
#        ARTIFACTS=/some/dir benchmarks/check-allocations.sh
set -euo pipefail
cd "$(dirname "$0")/.."

artifacts="${ARTIFACTS:-$(mktemp -d)}"
small=100
large=10000

echo "== allocation gate: EventBenchmarks.Pipeline at $small and $large records (short job), artifacts in $artifacts"
dotnet run -c Release --project benchmarks/Analytics.Core.Benchmarks -- \
  --filter "*EventBenchmarks.Pipeline(RecordCount: $small)" "*EventBenchmarks.Pipeline(RecordCount: $large)" \
  --job short --invocationCount 64 --exporters json --artifacts "$artifacts" --join ${GATE_ARGS:-} >"$artifacts/run.log" 2>&1 || {
  tail -n 50 "$artifacts/run.log"
  echo "allocation gate: the benchmark run failed" >&2
  exit 2
}

report="$(ls -t "$artifacts"/results/*-report-full-compressed.json 2>/dev/null | head -n 1 || true)"
if [ -z "$report" ]; then
  tail -n 50 "$artifacts/run.log"
  echo "allocation gate: no JSON report in $artifacts/results" >&2
  exit 2
fi

node - "$report" "$small" "$large" <<'JS'
const fs = require('fs');
const [report, small, large] = process.argv.slice(2);
const benchmarks = JSON.parse(fs.readFileSync(report, 'utf8')).Benchmarks || [];
const allocated = {};
for (const b of benchmarks) {
  const m = /RecordCount=(\d+)/.exec(b.Parameters || '');
  if (b.Method === 'Pipeline' && m && b.Memory) allocated[m[1]] = b.Memory.BytesAllocatedPerOperation;
}
for (const n of [small, large]) {
  if (typeof allocated[n] !== 'number') {
    console.error(`allocation gate: no MemoryDiagnoser figure for Pipeline at RecordCount=${n} in ${report}`);
    process.exit(2);
  }
}
const perRecord = (allocated[large] - allocated[small]) / (large - small);
const epsilon = 0.01; // harness noise, see the header
console.log(`Pipeline allocated per event: ${allocated[small]} B at ${small} records, ${allocated[large]} B at ${large} records`);
console.log(`Pipeline allocated per record: ${perRecord.toFixed(4)} B (target 0; fails above ${epsilon} B of harness noise)`);
if (perRecord > epsilon) {
  console.error('allocation gate: FAILED, the pipeline allocates per record');
  process.exit(1);
}
console.log('allocation gate: passed');
JS
