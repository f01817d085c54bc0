using System.Globalization;
namespace Analytics.Core.Testing;

public sealed partial class StreamEmulator
{
    private void Finish(Invocation invocation, InvocationOutcome outcome, ResponseVerdict verdict)
    {
        invocation.Ended = true;
        invocation.DeadlineTimer?.Dispose();
        Lane lane = invocation.Lane;
        ShardState shard = lane.Shard;
        Batch batch = invocation.Batch;
        lane.Running = null;
        lane.CompletedMs = NowMs;
        BeforeRunningChanges(shard);
        shard.Running--;
        _busy--;
        invocation.Environment.Busy = false;

        long now = NowMs;
        ref SecondCounters counters = ref shard.Seconds[SecondOf(now)];
        long iteratorAge = batch.Records.Count > 0 ? now - batch.Records[^1].ArrivalMs : 0;
        counters.Invocations++;
        if (invocation.ColdStart)
        {
            // Counted as it is reported: an invocation still in flight at the end is in no figure but InvocationsInFlight.
            _coldStarts++;
        }

        counters.IteratorAgeMs = Math.Max(counters.IteratorAgeMs, iteratorAge);
        _maxIteratorAge = Math.Max(_maxIteratorAge, iteratorAge);
        if (outcome != InvocationOutcome.Success)
        {
            counters.Errors++;
            _errors++;
        }

        if (outcome == InvocationOutcome.Timeout)
        {
            counters.Timeouts++;
            _timeouts++;
        }

        string? checkpoint = null;
        bool checkpointLost = false;
        List<SimRecord> delivered = batch.Records;
        switch (outcome)
        {
            case InvocationOutcome.Success when delivered.Count > 0 && _redeliveryRandom is { } redelivery && redelivery.NextDouble() < _scenario.RedeliveryFraction:
                // "Lambda event source mappings process each event at least once, and duplicate processing of records can
                // occur." When is not documented: here the mapping loses a success's checkpoint, and the same records come
                // again as a new batch (no retry used; their invocations counted from it) before any later one of the
                // lane. Nothing counts as processed and the window keeps the state it had before (the state is kept with
                // the checkpoint), so the success that moves the checkpoint counts them once.
                checkpointLost = true;
                _redeliveries++;
                var again = new Batch { Records = [.. delivered], Group = batch.Group };
                StartAnew(again);
                ReleaseEvent(invocation);
                lane.Current = again;
                break;
            case InvocationOutcome.Success:
                // "Lambda checkpoints to the highest sequence number of a batch only when the batch is a complete success."
                checkpoint = delivered.Count > 0 ? delivered[^1].SequenceNumber : null;
                Processed(shard, delivered, delivered.Count);
                AfterWindowSuccess(lane, batch, verdict.State);
                Advance(lane);
                ReleaseEvent(invocation);
                break;
            case InvocationOutcome.Partial:
                // "Lambda uses the record with the lowest sequence number as the checkpoint. Lambda then retries all
                // records starting from that checkpoint." A partial response is a failure for the retry policy; with
                // bisection on, the batch is split at that record, which is the same retry.
                checkpoint = delivered[verdict.FirstFailed].SequenceNumber;
                Processed(shard, delivered, verdict.FirstFailed);
                AfterWindowSuccess(lane, batch, verdict.State, final: false);
                var rest = new Batch { Records = delivered[verdict.FirstFailed..], Attempts = batch.Attempts, LastEvent = batch.LastEvent, Group = batch.Group };
                lane.Current = rest;
                if (verdict.FirstFailed > 0)
                {
                    // Recorded on AWS (LocalStack's snapshots of test_kinesis_report_batch_item_failures and its DynamoDB
                    // twin, MaximumRetryAttempts 3): once the checkpoint moved, the rest was invoked 4 more times and
                    // given up with approximateInvokeCount 4. The rest starts as a new batch: no retry used, and its
                    // records' invocations counted from now.
                    StartAnew(rest);
                    break;
                }

                Failed(lane, rest, functionError: false);
                break;
            default:
                // Recorded on AWS (LocalStack's snapshots of test_kinesis_report_batch_item_failure_scenarios): after an
                // invalid response the destination record's functionError is null; after an exception, "Unhandled".
                batch.LastFailureUnhandled = !verdict.BadResponse;
                Failed(lane, batch, functionError: true);
                break;
        }

        _observer?.OnInvocation(new InvocationReport
        {
            Invocation = invocation.Number,
            StartMs = (invocation.DispatchTicks - _scenario.StartTime.UtcTicks) / TicksPerMs,
            EndMs = now - _startMs,
            ShardId = shard.Id,
            Lane = lane.Index,
            Records = delivered.Select(r => new DeliveredRecord(r.SequenceNumber, r.PartitionKey)).ToArray(),
            Outcome = outcome,
            Checkpoint = checkpoint,
            CheckpointLost = checkpointLost,
            Environment = invocation.Environment.Id,
            ColdStart = invocation.ColdStart,
            IteratorAgeMs = iteratorAge,
            IsFinalInvokeForWindow = _scenario.Mapping.TumblingWindowInSeconds > 0 ? batch.IsWindowFinal : null,
            ErrorType = invocation.Error?.Type,
            ErrorMessage = invocation.Error?.Message,
            ResponseProblem = verdict.Problem,
        });

        if (lane.Unsent.Count > 0)
        {
            SendConsolidated(lane);
        }

        if (outcome != InvocationOutcome.Success && lane.Current is not null && _scenario.RetryDelay > TimeSpan.Zero)
        {
            // Whatever of the failed batch comes again (a retry, a partial response's rest, a bisected half) waits.
            lane.RetryNotBeforeMs = now + (long)Math.Ceiling(_scenario.RetryDelay.TotalMilliseconds);
        }

        Poll(lane);
    }

    /// <summary>
    /// After a success the handler's task has completed, so the event's array goes back for a later event. No other
    /// batch holds it: only a batch that is replaced (by a partial response's rest, or by its halves) hands its event
    /// on, as their <see cref="Batch.LastEvent"/> for a destination's payload, and a replaced batch is not invoked again.
    /// </summary>
    private void ReleaseEvent(Invocation invocation)
    {
        invocation.Batch.BuiltEvent = null;
        invocation.Batch.LastEvent = null;
        _eventBuffers.Return(invocation.Event);
    }

    private void Processed(ShardState shard, List<SimRecord> records, int count)
    {
        for (int i = 0; i < count; i++)
        {
            MarkDone(records[i]);
        }

        shard.Seconds[SecondOf(NowMs)].RecordsOut += count;
        _recordsOut += count;
    }

    private void AfterWindowSuccess(Lane lane, Batch batch, string? state, bool final = true)
    {
        if (lane.Window is not { } window || state is null)
        {
            return;
        }

        if (batch.IsWindowFinal && final)
        {
            lane.Window = null;
            return;
        }

        window.State = state;
        if (window.StateBytes > LambdaJson.MaxWindowStateBytes)
        {
            // "If the state exceeds 1 MB, the window terminates early."
            window.TerminateEarly = true;
        }
    }

    // A failed batch: bisect (free), retry (counted), or give up to the destination.
    private void Failed(Lane lane, Batch batch, bool functionError)
    {
        MappingOptions mapping = _scenario.Mapping;
        batch.LastFailureWasError = functionError;
        if (functionError && mapping.BisectBatchOnFunctionError && batch.Records.Count > 1)
        {
            // "Splitting batches doesn't consume the retry quota." Both halves keep the batch's count (AWS does not
            // say; documented as the emulator's choice). The lower half goes first.
            int half = (batch.Records.Count + 1) / 2;
            BisectionGroup? group = batch.Group ?? (_scenario.ConsolidateBisectedFailures ? new BisectionGroup { Records = batch.Records, Event = batch.LastEvent } : null);
            var low = new Batch { Records = batch.Records[..half], Attempts = batch.Attempts, LastEvent = batch.LastEvent, Group = group };
            var high = new Batch { Records = batch.Records[half..], Attempts = batch.Attempts, LastEvent = batch.LastEvent, Group = group };
            lane.Deferred.Push(high);
            lane.Current = low;
            return;
        }

        batch.Attempts++;
        if (mapping.MaximumRetryAttempts >= 0 && batch.Attempts > mapping.MaximumRetryAttempts)
        {
            if (batch.Records.Count > 0 && batch.Group is { } given)
            {
                // Sent with the rest of the bisection's given-up records once none of it is left (SendConsolidated),
                // and counted then; done now (never retried).
                MarkDone(batch.Records);
                given.GivenUp.AddRange(batch.Records.Select(r => (r, batch.LastFailureUnhandled)));
                if (!lane.Unsent.Contains(given))
                {
                    lane.Unsent.Add(given);
                }
            }
            else if (batch.Records.Count > 0)
            {
                SendToDestination(lane, batch, batch.Records, "RetryAttemptsExhausted");
            }

            if (batch.IsWindowFinal)
            {
                // The window's final invocation is given up: its state, and whatever the handler writes at the window's
                // end, are gone, and no record figure shows it (EmulationSummary.WindowsDiscarded).
                lane.Window = null;
                _windowsDiscarded++;
            }

            lane.Current = batch;
            batch.Records = [];
            Advance(lane);
            return;
        }

        lane.Current = batch;
    }

    /// <summary>A batch that starts anew: no retry used, and its records' invocations (approximateInvokeCount) counted from it.</summary>
    private static void StartAnew(Batch batch)
    {
        batch.Attempts = 0;
        foreach (SimRecord record in batch.Records)
        {
            record.InvokeCount = 0;
        }
    }

    private void Advance(Lane lane) => lane.Current = lane.Deferred.Count > 0 ? lane.Deferred.Pop() : null;

    private void MarkDone(List<SimRecord> records)
    {
        foreach (SimRecord record in records)
        {
            MarkDone(record);
        }
    }

    /// <summary>
    /// Sends what the lane's bisections gave up once nothing of them is left to retry (or at the run's end): one record
    /// per run of records given up one after another in the original batch, with the whole original event as the S3
    /// payload. <see cref="EmulatorScenario.ConsolidateBisectedFailures"/>.
    /// </summary>
    private void SendConsolidated(Lane lane, bool all = false)
    {
        for (int g = 0; g < lane.Unsent.Count; g++)
        {
            BisectionGroup group = lane.Unsent[g];
            if (!all && (lane.Current?.Group == group || lane.Deferred.Any(b => b.Group == group)))
            {
                continue;
            }

            lane.Unsent.RemoveAt(g--);
            var given = group.GivenUp.ToDictionary(x => x.Record, x => x.Unhandled);
            group.GivenUp.Clear(); // sent once, whatever the group gives up after (at the run's end, nothing)
            var run = new List<SimRecord>();
            for (int i = 0; i <= group.Records.Count; i++)
            {
                if (i < group.Records.Count && given.ContainsKey(group.Records[i]))
                {
                    run.Add(group.Records[i]);
                    continue;
                }

                if (run.Count > 0)
                {
                    var sent = new Batch { Records = run, LastEvent = group.Event, LastFailureUnhandled = run.Any(r => given[r]) };
                    Emit(lane, sent, run, "RetryAttemptsExhausted");
                    run = [];
                }
            }
        }
    }

    private void SendToDestination(Lane lane, Batch batch, List<SimRecord> records, string condition)
    {
        MarkDone(records);
        Emit(lane, batch, records, condition);
    }

    /// <summary>Sends one record to the destination, and counts its records in the second it is sent, as the destination record's timestamp says.</summary>
    private void Emit(Lane lane, Batch batch, List<SimRecord> records, string condition)
    {
        ShardState shard = lane.Shard;
        shard.Seconds[SecondOf(NowMs)].Destination += records.Count;
        _toDestination += records.Count;
        OnFailureDestination kind = _scenario.Mapping.OnFailure;
        if (kind == OnFailureDestination.None)
        {
            return;
        }

        long now = NowMs;
        int invokeCount = records.Max(r => r.InvokeCount);
        ReadOnlyMemory<byte>? payload = null;
        if (kind == OnFailureDestination.S3)
        {
            // The S3 record carries "the original invocation record": the last event these records were in, or
            // (never invoked: expired before their first invocation) the event they would have been sent in. AWS does
            // not say what a record of only part of that event carries (the expired head of a retried batch, the
            // failed tail of a partial response, a bisected half): the whole last event, the adversarial reading, so
            // the payload may hold records the mapping did not give up on, and only KinesisBatchInfo's range tells
            // which it did.
            // (A batch holds a last event only once its records were in it: the rest of a partial response, whose
            // invocations are counted anew, keeps the event it was cut from.)
            payload = batch.LastEvent ?? _events.Event(records, null, batch, shard.Id);
        }

        // Recorded on AWS (LocalStack's snapshots of test_kinesis_maximum_record_age_exceeded and its _discard_records
        // twin): a RecordAgeExceeded record has no responseContext, and approximateInvokeCount 1 for records that were
        // never invoked. After retries, responseContext's functionError is "Unhandled" for the function's own error and
        // null for a partial or invalid response (test_kinesis_report_batch_item_failure(s|_scenarios)).
        bool expired = condition == "RecordAgeExceeded";
        string json = LambdaJson.InvocationRecord(
            NewUuid(), _functionArn, condition, expired ? Math.Max(1, invokeCount) : invokeCount, responseContext: !expired,
            batch.LastFailureUnhandled ? "Unhandled" : null, now, shard.Id, records, _streamArn, payload);
        string? key = null;
        if (kind == OnFailureDestination.S3)
        {
            DateTime at = DateTimeOffset.FromUnixTimeMilliseconds(now).UtcDateTime;
            // Invariant: under a culture with another calendar (th-TH, fa-IR) the year would be 2568 or 1403.
            key = string.Create(CultureInfo.InvariantCulture, $"aws/lambda/{_uuid}/{shard.Id}/{at:yyyy}/{at:MM}/{at:dd}/{at:yyyy-MM-dd'T'HH.mm.ss}-{NewUuid()}");
        }

        if (key is not null && _destinationBucket is { } bucket)
        {
            // Lambda's own write: the object is the invocation record, UTF-8 JSON, under the documented key.
            bucket.Model.Deliver(bucket.Name, key, System.Text.Encoding.UTF8.GetBytes(json), "application/json");
        }

        _observer?.OnDestination(new DestinationRecord(kind, shard.Id, condition, key, json, records.Select(r => r.SequenceNumber).ToArray()));
    }
}
