#!/usr/bin/env bash
# The acceptance test of a consumer's first hour: a fresh net8.0 project (default language version, warnings as
# errors) restores Analytics.Core, Analytics.Core.Aws, Analytics.Core.Logging and Analytics.Core.Testing from the packed .nupkg files in
# artifacts/packages, builds with no warning, and runs every README example on the .NET 8 runtime (a self-contained
# linux-x64 publish, so the runtime is the real .NET 8 one even where only a newer shared runtime is installed).
# Usage: tests/consumer-net8/run.sh   (after `dotnet pack ... -o artifacts/packages` of the four packages)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
mkdir -p obj
ls ../../artifacts/packages/Analytics.Core.0.1.0.nupkg ../../artifacts/packages/Analytics.Core.Aws.0.1.0.nupkg \
  ../../artifacts/packages/Analytics.Core.Logging.0.1.0.nupkg ../../artifacts/packages/Analytics.Core.Testing.0.1.0.nupkg >/dev/null
# The packages were just packed with the same version: never take an older copy from a previous run.
rm -rf obj/packages/analytics.core obj/packages/analytics.core.aws obj/packages/analytics.core.logging obj/packages/analytics.core.testing bin out
dotnet publish ConsumerNet8.csproj -c Release -r linux-x64 --self-contained -warnaserror -o out 2>&1 | tee obj/build.log
if grep -qE "warning( [A-Za-z]+[0-9]+)? *:" obj/build.log; then
  echo "consumer-net8: the build printed warnings" >&2
  exit 1
fi
cd out && ./ConsumerNet8
