using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The emulated mapping's checkpoint and retry bookkeeping where a partial response, the retry quota and bisection meet
/// (AWS: "Lambda uses the record with the lowest sequence number as the checkpoint. Lambda then retries all records
/// starting from that checkpoint"; "Splitting batches doesn't consume the retry quota"; the emulator's documented
/// choices, docs/emulator.md: the lower half runs first and both halves keep the parent's retry count).
/// </summary>
public sealed class CheckpointRetryTests
{
    [Fact]
    public void PartialResponses_UntilTheQuotaIsUsed_CheckpointTheRecordsBefore_AndSendOnlyTheRestToTheDestination()
    {
        EmulatorScenario scenario = Emulate.Texts("a", "b", "bad", "d") with
        {
            Mapping = new() { ReportBatchItemFailures = true, MaximumRetryAttempts = 1, OnFailure = OnFailureDestination.Sqs },
        };
        EmulationRecording run = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.Report, WhenData: "bad"));

        // The first attempt moves the checkpoint to "bad"; the rest starts with its whole retry quota (recorded on AWS,
        // EsmRuleTests.PartialResponse_ThatMovesTheCheckpoint_LeavesTheRestItsWholeRetryQuota_AsAwsRecorded): it is invoked
        // and retried once, each time from the checkpoint at "bad", then given up.
        Assert.Equal([["a", "b", "bad", "d"], ["bad", "d"], ["bad", "d"]], run.Invocations.Select(i => Emulate.DeliveredTexts(run, i)).ToArray());
        Assert.All(run.Invocations, i => Assert.Equal(InvocationOutcome.Partial, i.Outcome));
        Assert.All(run.Invocations, i => Assert.Equal(run.Records[2].SequenceNumber, i.Checkpoint));

        DestinationRecord sent = Assert.Single(run.Destination);
        Assert.Equal("RetryAttemptsExhausted", sent.Condition);
        Assert.Equal([run.Records[2].SequenceNumber, run.Records[3].SequenceNumber], sent.SequenceNumbers);
        using JsonDocument record = JsonDocument.Parse(sent.Json);
        JsonElement root = record.RootElement;
        Assert.Equal(2, root.GetProperty("requestContext").GetProperty("approximateInvokeCount").GetInt32());

        // A partial response is not a function error.
        Assert.Equal(JsonValueKind.Null, root.GetProperty("responseContext").GetProperty("functionError").ValueKind);
    }

    [Fact]
    public void Bisection_OfAnOddBatch_RunsTheLargerLowerHalfFirst()
    {
        EmulatorScenario scenario = Emulate.Texts("a", "b", "boom", "d", "e") with
        {
            Mapping = new() { BisectBatchOnFunctionError = true, MaximumRetryAttempts = 0, OnFailure = OnFailureDestination.Sqs },
        };
        EmulationRecording run = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.Raise, WhenData: "boom"));

        Assert.Equal(
            [["a", "b", "boom", "d", "e"], ["a", "b", "boom"], ["a", "b"], ["boom"], ["d", "e"]],
            run.Invocations.Select(i => Emulate.DeliveredTexts(run, i)).ToArray());
        Assert.Equal([run.Records[2].SequenceNumber], Assert.Single(run.Destination).SequenceNumbers);
        Assert.Equal(run.Records[1].SequenceNumber, run.Invocations[2].Checkpoint);
        Assert.Equal(run.Records[4].SequenceNumber, run.Invocations[4].Checkpoint);
    }

    [Fact]
    public void Bisection_AfterARetryUsedByAPartialResponse_TheHalvesKeepTheParentsCount()
    {
        // Invocation 1 reports "a", the batch's first record (a partial failure that moves no checkpoint: one retry used,
        // the same batch again); invocation 2 raises (bisection, no retry used): halves [a, b] and [boom, d] keep the
        // count of 1. [a, b] succeeds; [boom, d] raises and splits again; [boom] raises, cannot be split and has no retry
        // left (1 used of 1): the destination; [d] succeeds.
        int calls = 0;
        EmulatorScenario scenario = Emulate.Texts("a", "b", "boom", "d") with
        {
            Mapping = new()
            {
                ReportBatchItemFailures = true,
                BisectBatchOnFunctionError = true,
                MaximumRetryAttempts = 1,
                OnFailure = OnFailureDestination.Sqs,
            },
        };
        EmulationRecording run = Emulate.Run(scenario, clock =>
        {
            var scripted = new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Raise, WhenData: "boom")]);
            var first = new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Report, WhenData: "a")]);
            return new DelegateHandler((e, deadline, token) => ++calls == 1 ? first.InvokeAsync(e, deadline, token) : scripted.InvokeAsync(e, deadline, token));
        });

        Assert.Equal(
            [["a", "b", "boom", "d"], ["a", "b", "boom", "d"], ["a", "b"], ["boom", "d"], ["boom"], ["d"]],
            run.Invocations.Select(i => Emulate.DeliveredTexts(run, i)).ToArray());
        DestinationRecord sent = Assert.Single(run.Destination);
        Assert.Equal([run.Records[2].SequenceNumber], sent.SequenceNumbers);
        Assert.Equal(run.Records[0].SequenceNumber, run.Invocations[0].Checkpoint);
    }
}
