#!/usr/bin/env bash
# Mutation testing (Stryker.NET) of the files that decide checkpoints, exactly-once and the sketch.
#
#   tests/mutation/run.sh                                    the seven files of stryker-config.json, in one run
#   tests/mutation/run.sh SequenceNumber.cs AggregateBatch.cs  only these files (names under src/Analytics.Core)
#   TARGET=aws tests/mutation/run.sh                         the DynamoDB sink's watermark logic (stryker-aws.json)
#   TARGET=emulator tests/mutation/run.sh                    the emulator's checkpoint and retry logic (stryker-emulator.json)
#   TARGET=tools tests/mutation/run.sh                       the redrive's bookkeeping: spills, destination objects, the lease (stryker-tools.json)
#   TARGET=spill tests/mutation/run.sh                       what a spill object holds and when it is durable: S3SpillSink, SpillObject (stryker-spill.json;
#                                                            both test projects; the local servers: `npm ci --prefix tests/servers` first)
#   TARGET=parsers tests/mutation/run.sh MetricRecordParser.cs   what a producer reaches first: the event scanner, the record parser, the
#                                                            tokenizer, the base64 decoder (stryker-parsers.json; its filter keeps the
#                                                            parser and KPL tests the core target leaves out; about 4 hours for all four
#                                                            files on 2 cores, so name the files)
#
# A file name may end in Stryker.NET's spans, quoted so the shell leaves the braces alone,
# `TARGET=spill tests/mutation/run.sh 'Internal/SpillObject.cs{3452..3549}'`: only the mutants inside those
# characters of the file (not lines) are tested, so a change's own lines take minutes where the whole file takes hours
# (results/spill-floor-2026-12-06.md).
#
# One Stryker run builds and instruments the whole library and runs the test suite once before it tries any
# mutant (several minutes on a busy 2-core machine), so several files in one run cost far less than one run each.
# Options come from stryker-config.json next to this script; its test filter leaves out the tests that need the
# local DynamoDB and S3 servers and the sample's process-level tests (they cover the sinks and the CLI, not these
# files, and would run for every mutant of the processor), and the README, public-API and memory-size tests.
# TARGET=aws runs the tests against the local DynamoDB and S3 servers (dynalite, s3rver): `npm ci --prefix tests/servers`
# first.
# Environment:
#   TARGET        core (default), aws, emulator, tools, spill or parsers: which library, configuration and test project
#   CONCURRENCY   test runners in parallel (default 2)
#   BREAK_AT      exit non-zero when a file's score of non-equivalent mutants is below this percentage (default 0)
#   OUT           where the reports go (default artifacts/mutation/$TARGET)
# Prints the score per file (see score.js; equivalent mutants are listed in equivalent-mutants.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Stryker's project analysis gives `dotnet --info` 10 s by default; a busy machine needs longer ("Could not find
# build environment").
export DOTNET_INFO_WAIT_TIME="${DOTNET_INFO_WAIT_TIME:-180000}"
target="${TARGET:-core}"
case "$target" in
  core) config="$here/stryker-config.json"; tests=tests/Analytics.Core.Tests ;;
  aws) config="$here/stryker-aws.json"; tests=tests/Analytics.Core.Tests ;;
  emulator) config="$here/stryker-emulator.json"; tests=tests/Analytics.Core.Testing.Tests ;;
  tools) config="$here/stryker-tools.json"; tests=tests/Analytics.Core.Testing.Tests ;;
  # Both test projects test the spill sink (the give-up and context tests are the Core tests'): Stryker takes several
  # only from the project under test's folder, so this target runs there, its config naming the test projects.
  spill) config="$here/stryker-spill.json"; tests=tests/Analytics.Core.Testing.Tests; from=src/Analytics.Core.Aws; restore=tests/Analytics.Core.Tests ;;
  parsers) config="$here/stryker-parsers.json"; tests=tests/Analytics.Core.Tests ;;
  *) echo "TARGET must be core, aws, emulator, tools, spill or parsers, not '$target'" >&2; exit 2 ;;
esac
dotnet tool restore >/dev/null
# Stryker analyses the projects through their restore output (obj/): a fresh clone needs a restore first.
dotnet restore "$tests" >/dev/null
if [ -n "${restore:-}" ]; then dotnet restore "$restore" >/dev/null; fi

mutate=()
for f in "$@"; do
  mutate+=(--mutate "**/$f")
done

out="${OUT:-$root/artifacts/mutation/$target}"
mkdir -p "$out"
(cd "${from:-$tests}" &&
  dotnet stryker --config-file "$config" \
    "${mutate[@]}" \
    --concurrency "${CONCURRENCY:-2}" \
    --output "$out" \
    --skip-version-check) | tee "$out/stryker.log"

report=$(ls -t "$out"/reports/mutation-report.json | head -1)
node "$here/score.js" "$report" "$here/equivalent-mutants.json" "${BREAK_AT:-0}" | tee "$out/scores.md"
