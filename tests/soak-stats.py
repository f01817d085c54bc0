#!/usr/bin/env python3
"""Summarises the figures a soak wrote (TESTS_SOAK_STATS=file, docs/testing.md): per property, how many cases met
each fault, and the distributions of windows per case, ParallelizationFactor and so on.

    python3 tests/soak-stats.py /tmp/stats.jsonl
"""
import collections
import json
import sys


def share(cases, pred):
    n = sum(1 for c in cases if pred(c))
    return f"{n}/{len(cases)} ({100.0 * n / len(cases):.0f}%)" if cases else "0/0"


def dist(cases, key, buckets=None):
    values = [c.get(key) for c in cases if key in c]
    if not values:
        return "not recorded"
    if buckets:
        counts = collections.Counter(next((label for label, lo, hi in buckets if lo <= v <= hi), "other") for v in values)
        return ", ".join(f"{label}: {counts.get(label, 0)}" for label, _, _ in buckets)
    counts = collections.Counter(values)
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts, key=lambda x: (str(type(x)), x)))


WINDOW_BUCKETS = [("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-9", 5, 9), ("10-19", 10, 19), ("20+", 20, 10**9)]
BEHIND_BUCKETS = [("0", 0, 0), ("1", 1, 1), ("2-4", 2, 4), ("5+", 5, 10**9)]


def main(path):
    by_property = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                c = json.loads(line)
                by_property[c["property"]].append(c)

    for prop, cases in sorted(by_property.items()):
        print(f"== {prop}: {len(cases)} cases")
        if prop == "SpillOutageTests":
            print("  pf:", dist(cases, "pf"))
            for label, pred in [
                ("spilled any record", lambda c: c["spilledRecords"] > 0),
                ("bisect", lambda c: c["bisect"]),
                ("give-ups", lambda c: c["giveUps"]),
                ("lost answers drawn", lambda c: c["lostPercent"] > 0),
                ("late puts", lambda c: c["landLate"]),
                ("undecided left", lambda c: c["undecided"] > 0),
                ("exact", lambda c: c["exact"]),
                ("property held", lambda c: c["holds"]),
            ]:
                print(f"  {label}: {share(cases, pred)}")
            continue

        print("  windows per case:", dist(cases, "windows", WINDOW_BUCKETS))
        print("  windows written after they closed:", dist(cases, "windowsWrittenAfterClose", BEHIND_BUCKETS))
        print("  most windows behind (record stamp):", dist(cases, "mostWindowsBehind", BEHIND_BUCKETS))
        print("  arrival windows that closed with the shard behind:", dist(cases, "arrivalWindowsClosedBehind", BEHIND_BUCKETS))
        print("  most arrival windows behind:", dist(cases, "mostArrivalWindowsBehind", BEHIND_BUCKETS))
        print("  pf:", dist(cases, "pf"))
        print("  lanes used:", dist(cases, "lanes", [("1", 1, 1), ("2-4", 2, 4), ("5-10", 5, 10), ("11+", 11, 10**9)]))
        for label, pred in [
            ("timeouts (invocations timed out)", lambda c: c["timeoutInvocations"] > 0),
            ("timeouts drawn", lambda c: c["timeouts"]),
            ("function errors (any failed invocation)", lambda c: c["errorInvocations"] > 0),
            ("partial responses", lambda c: c["partialInvocations"] > 0),
            ("DynamoDB throttled", lambda c: c["ddbThrottles"] > 0),
            ("S3 throttled", lambda c: c["s3Throttles"] > 0),
            ("DynamoDB outage errors", lambda c: c["ddbOutageErrors"] > 0),
            ("S3 outage errors", lambda c: c["s3OutageErrors"] > 0),
            ("condition failures (watermark met)", lambda c: c["ddbConditionFailures"] > 0),
            ("bisected halves", lambda c: c["halves"] > 0),
            ("bisect drawn", lambda c: c["bisect"]),
            ("redeliveries (lost checkpoints)", lambda c: c["redeliveries"] > 0),
            ("lost answers (puts landed unanswered)", lambda c: c.get("lostAnswers", 0) > 0),
            ("puts landed late", lambda c: c.get("landedLate", 0) > 0),
            ("poison records", lambda c: c["poison"] > 0),
            ("Lambda throttles", lambda c: c["lambdaThrottles"] > 0),
            ("retry delay drawn", lambda c: c.get("retryDelayMs", 0) > 0),
            ("retry delay with function errors", lambda c: c.get("retryDelayMs", 0) > 0 and c["errorInvocations"] > 0),
            ("iterator age > 60 s", lambda c: c["maxIteratorAgeMs"] > 60_000),
            ("property held", lambda c: c["holds"]),
            ("doubled", lambda c: c["doubled"]),
        ]:
            print(f"  {label}: {share(cases, pred)}")
        records = sorted(c["records"] for c in cases)
        print(f"  records per case: min {records[0]}, median {records[len(records) // 2]}, max {records[-1]}")


if __name__ == "__main__":
    main(sys.argv[1])
