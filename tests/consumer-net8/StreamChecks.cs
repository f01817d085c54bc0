using System.Numerics;
using System.Text;
using Analytics.Core.Testing;

namespace ConsumerNet8.Testing;

/// <summary>
/// What Lambda promises for the README's scenario, computed from the recording alone: the poison record is retried
/// and then sent to the on-failure destination once, and every other record is processed, sent there once, or still
/// pending when the run ends.
/// </summary>
internal static class StreamChecks
{
    public static string? Problem(EmulatorScenario scenario, EmulationSummary summary, EmulationRecording recording)
    {
        if (recording.Records.Count != summary.RecordsIn || recording.Invocations.Count != summary.Invocations)
        {
            return $"recording {recording.Records.Count} records, {recording.Invocations.Count} invocations; summary {summary.RecordsIn}, {summary.Invocations}";
        }

        StreamRecord[] poison = [.. recording.Records.Where(r => Encoding.UTF8.GetString(r.Data.Span) == "poison")];
        if (poison.Length != 1)
        {
            return $"{poison.Length} poison records produced";
        }

        string poisonSequence = poison[0].SequenceNumber;
        // The invocations of the rest that starts at the poison record: a partial response that moves the checkpoint uses
        // none of the rest's retry quota (as recorded on AWS; docs/emulator.md), so the rest is invoked
        // MaximumRetryAttempts + 1 times, besides any earlier invocation whose batch held records before the poison.
        int reported = recording.Invocations.Count(i => i.Outcome == InvocationOutcome.Partial && i.Checkpoint == poisonSequence && i.Records[0].SequenceNumber == poisonSequence);
        DestinationRecord[] sent = [.. recording.Destination.Where(d => d.SequenceNumbers.Contains(poisonSequence))];

        // The README says how often the poison record is reported in all: once in the batch that first held it (with
        // records before it), then in each invocation of the rest.
        int reportedInAll = recording.Invocations.Count(i => i.Outcome == InvocationOutcome.Partial && i.Checkpoint == poisonSequence);
        if (reportedInAll != 1 + scenario.Mapping.MaximumRetryAttempts + 1)
        {
            return $"poison reported by {reportedInAll} invocations in all, not once before the rest and {scenario.Mapping.MaximumRetryAttempts + 1} times in it, as the README says";
        }

        if (reported != scenario.Mapping.MaximumRetryAttempts + 1 || sent.Length != 1 ||
            sent[0] is not { Kind: OnFailureDestination.S3, Condition: "RetryAttemptsExhausted", S3Key.Length: > 0 })
        {
            return $"poison reported by {reported} invocations, in {sent.Length} destination records";
        }

        HashSet<(string Shard, string Sequence)> processed = Processed(recording);
        var destined = recording.Destination.SelectMany(d => d.SequenceNumbers.Select(s => (d.ShardId, s))).ToList();
        if (destined.Distinct().Count() != destined.Count)
        {
            return "a record is in two destination records";
        }

        int neither = recording.Records.Count(r => !processed.Contains((r.ShardId, r.SequenceNumber)) && !destined.Contains((r.ShardId, r.SequenceNumber)));
        int both = destined.Count(processed.Contains);
        return neither == summary.RecordsPending && both == 0 && processed.Count == summary.RecordsOut && destined.Count == summary.RecordsToDestination
            ? null
            : $"{processed.Count} processed (summary {summary.RecordsOut}), {destined.Count} sent to the destination (summary {summary.RecordsToDestination}), {both} both, {neither} neither (summary pending {summary.RecordsPending})";
    }

    /// <summary>The records processed: in a successful invocation, or before the checkpoint (the lowest failed record) of a partial one.</summary>
    public static HashSet<(string Shard, string Sequence)> Processed(EmulationRecording recording)
    {
        var processed = new HashSet<(string Shard, string Sequence)>();
        foreach (InvocationReport invocation in recording.Invocations)
        {
            foreach (DeliveredRecord record in invocation.Records)
            {
                if (invocation.Outcome == InvocationOutcome.Success ||
                    (invocation.Outcome == InvocationOutcome.Partial && BigInteger.Parse(record.SequenceNumber) < BigInteger.Parse(invocation.Checkpoint!)))
                {
                    processed.Add((invocation.ShardId, record.SequenceNumber));
                }
            }
        }

        return processed;
    }
}
