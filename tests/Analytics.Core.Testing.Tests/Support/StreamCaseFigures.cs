using System.Globalization;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The figures of one stream case (<see cref="ExactlyOnceStreamProperties.StreamCase"/>) run to its end, for
/// <see cref="CaseStats"/>: what was drawn, and what the run met (windows, faults, bisected halves, how far behind a
/// shard wrote a window).
/// </summary>
internal static class StreamCaseFigures
{
    private const long WindowMs = 60_000;

    public static List<KeyValuePair<string, object?>> Of(ExactlyOnceStreamProperties.StreamCase c, ExactlyOnceStreamProperties.StreamRun run, bool holds, bool doubled)
    {
        EmulationRecording recording = run.Recording;
        EmulationSummary summary = run.Summary;
        Dictionary<(string Series, long Window), List<(string SequenceNumber, double Value)>> samples =
            TrueAggregates.SamplesOf(recording.Records, WindowMs, out HashSet<string> poison);

        // Each record's window (epoch ms) and the run's start, to tell when a window closed in the run's time.
        var windowOf = new Dictionary<string, long>();
        foreach (((string _, long window), List<(string SequenceNumber, double Value)> list) in samples)
        {
            foreach ((string sequenceNumber, double _) in list)
            {
                windowOf[sequenceNumber] = window;
            }
        }

        long startMs = Emulate.Start.ToUnixTimeMilliseconds();
        HashSet<long> windows = [.. samples.Keys.Select(k => k.Window)];

        // A window written after it closed: some record of it reached the function (in an invocation that succeeded or
        // not) only after the window's end; how far after, in windows, at most.
        var writtenLate = new HashSet<long>();
        long mostWindowsBehind = 0;
        var firstSeen = new Dictionary<string, long>();
        foreach (InvocationReport invocation in recording.Invocations)
        {
            foreach (DeliveredRecord record in invocation.Records)
            {
                if (!firstSeen.ContainsKey(record.SequenceNumber))
                {
                    firstSeen[record.SequenceNumber] = invocation.StartMs;
                }
            }
        }

        // Behind by arrival: how many windows of arrival time passed between a record's arrival and its first delivery
        // (the shard behind across window boundaries, whatever the record's own stamp).
        var arrival = new Dictionary<string, long>();
        foreach (StreamRecord record in recording.Records)
        {
            arrival[record.SequenceNumber] = record.Arrival.ToUnixTimeMilliseconds() - startMs;
        }

        var arrivalWindowsClosedBehind = new HashSet<long>();
        long mostArrivalWindowsBehind = 0;
        foreach ((string sequenceNumber, long seen) in firstSeen)
        {
            if (arrival.TryGetValue(sequenceNumber, out long arrived))
            {
                long arrivalWindowEnd = ((arrived / WindowMs) + 1) * WindowMs;
                if (seen >= arrivalWindowEnd)
                {
                    arrivalWindowsClosedBehind.Add(arrived / WindowMs);
                    mostArrivalWindowsBehind = Math.Max(mostArrivalWindowsBehind, 1 + ((seen - arrivalWindowEnd) / WindowMs));
                }
            }
        }

        foreach ((string sequenceNumber, long seen) in firstSeen)
        {
            if (windowOf.TryGetValue(sequenceNumber, out long window))
            {
                long end = window + WindowMs - startMs;
                if (seen >= end)
                {
                    writtenLate.Add(window);
                    mostWindowsBehind = Math.Max(mostWindowsBehind, 1 + ((seen - end) / WindowMs));
                }
            }
        }

        // A bisected half: an invocation of the lane that follows a failed one (error or timeout) with fewer records,
        // from the same first record.
        long halves = 0;
        foreach (IGrouping<(string ShardId, int Lane), InvocationReport> lane in recording.Invocations.GroupBy(i => (i.ShardId, i.Lane)))
        {
            InvocationReport? previous = null;
            foreach (InvocationReport invocation in lane.OrderBy(i => i.StartMs).ThenBy(i => i.Invocation))
            {
                if (previous is { Outcome: InvocationOutcome.Error or InvocationOutcome.Timeout } && previous.Records.Count > invocation.Records.Count
                    && invocation.Records.Count > 0 && previous.Records[0].SequenceNumber == invocation.Records[0].SequenceNumber)
                {
                    halves++;
                }

                previous = invocation;
            }
        }

        DynamoDbModelCounters dynamo = run.Downstream.DynamoDb.Counters;
        S3ModelCounters s3 = run.Downstream.S3.Counters;
        return
        [
            new("seed", c.Seed), new("shards", c.Shards), new("keys", c.PartitionKeys), new("pf", c.Factor), new("bisect", c.Bisect),
            new("adversarial", c.Adversarial), new("throttle", c.ThrottlePercent), new("outage", c.Outage), new("unanswered", c.Unanswered),
            new("timeouts", c.Timeouts), new("batch", c.BatchSize), new("redelivery", c.Redelivery.ToString(CultureInfo.InvariantCulture)),
            new("dynamoDbFaults", c.DynamoDbFaults), new("reservedConcurrency", c.ReservedConcurrency), new("s3OutageFrom", c.S3OutageFrom), new("retryDelayMs", c.RetryDelayMs),
            new("records", recording.Records.Count), new("poison", poison.Count), new("windows", windows.Count), new("items", samples.Count),
            new("windowsWrittenAfterClose", writtenLate.Count), new("mostWindowsBehind", mostWindowsBehind),
            new("arrivalWindowsClosedBehind", arrivalWindowsClosedBehind.Count), new("mostArrivalWindowsBehind", mostArrivalWindowsBehind),
            new("invocations", summary.Invocations), new("timeoutInvocations", summary.Timeouts), new("errorInvocations", summary.Errors),
            new("partialInvocations", recording.Invocations.Count(i => i.Outcome == InvocationOutcome.Partial)),
            new("lambdaThrottles", summary.Throttles), new("redeliveries", summary.Redeliveries), new("halves", halves),
            new("ddbThrottles", dynamo.Throttles), new("ddbOutageErrors", dynamo.OutageErrors), new("ddbConditionFailures", dynamo.ConditionalCheckFailures),
            new("s3Throttles", s3.Throttles), new("s3OutageErrors", s3.OutageErrors),
            new("maxIteratorAgeMs", summary.MaxIteratorAgeMs), new("maxConcurrency", summary.MaxConcurrency),
            new("lanes", recording.Invocations.Select(i => (i.ShardId, i.Lane)).Distinct().Count()),
            new("pending", summary.RecordsPending), new("holds", holds), new("doubled", doubled),
        ];
    }
}
