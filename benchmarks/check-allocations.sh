#!/usr/bin/env bash
# Allocation gate: fails when the pipeline allocates per record.
#
# Runs EventBenchmarks.Pipeline at 100 and 10,000 records (BenchmarkDotNet short job, MemoryDiagnoser, JSON
# export), then computes bytes per record = (Allocated(10,000) - Allocated(100)) / 9,900 from the exported
# figures. A fixed per-batch amount cancels out; anything above 0 bytes per record fails. Allocation is
# deterministic, time is not: this gate never looks at time.
#
# Usage: benchmarks/check-allocations.sh            (from anywhere; about 3 minutes on 2 cores)
#        ARTIFACTS=/some/dir benchmarks/check-allocations.sh
set -euo pipefail
cd "$(dirname "$0")/.."

artifacts="${ARTIFACTS:-$(mktemp -d)}"
small=100
large=10000

echo "== allocation gate: EventBenchmarks.Pipeline at $small and $large records (short job), artifacts in $artifacts"
dotnet run -c Release --project benchmarks/Analytics.Core.Benchmarks -- \
  --filter "*EventBenchmarks.Pipeline(RecordCount: $small)" "*EventBenchmarks.Pipeline(RecordCount: $large)" \
  --job short --exporters json --artifacts "$artifacts" --join >"$artifacts/run.log" 2>&1 || {
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
console.log(`Pipeline allocated per event: ${allocated[small]} B at ${small} records, ${allocated[large]} B at ${large} records`);
console.log(`Pipeline allocated per record: ${perRecord} B (target 0)`);
if (perRecord > 0) {
  console.error('allocation gate: FAILED, the pipeline allocates per record');
  process.exit(1);
}
console.log('allocation gate: passed');
JS
