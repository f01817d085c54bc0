using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>What Lambda makes of a function's response.</summary>
internal readonly record struct ResponseVerdict(InvocationOutcome Outcome, int FirstFailed, string? State, bool IgnoredFailures = false, bool BadResponse = false)
{
    /// <summary>A response Lambda counts as a complete failure: the function returned, so its error is not "Unhandled".</summary>
    public static ResponseVerdict Error => new(InvocationOutcome.Error, -1, null, BadResponse: true);
}

/// <summary>
/// Reads a response as the event source mapping does (AWS, "Configuring partial batch response"): success on an empty
/// or null response or an empty or null <c>batchItemFailures</c>; complete failure on an empty or null
/// <c>itemIdentifier</c> or a bad key name; otherwise the lowest reported sequence number is the checkpoint.
/// </summary>
internal static class ResponseRules
{
    public static ResponseVerdict Read(ReadOnlySpan<byte> response, IReadOnlyList<SimRecord> records, bool reportItemFailures, bool window)
    {
        bool blank = IsBlank(response);
        if (!reportItemFailures && !window)
        {
            return new(InvocationOutcome.Success, -1, null, ListsFailures(response));
        }

        if (blank)
        {
            // A tumbling-window response must carry state: "a missing state counts as a failed invocation".
            return window ? ResponseVerdict.Error : new(InvocationOutcome.Success, -1, null);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(response.ToArray());
        }
        catch (JsonException)
        {
            return ResponseVerdict.Error;
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            string? state = null;
            if (window)
            {
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("state", out JsonElement stateElement) || stateElement.ValueKind != JsonValueKind.Object)
                {
                    return ResponseVerdict.Error;
                }

                state = stateElement.GetRawText();
            }

            if (!reportItemFailures || root.ValueKind == JsonValueKind.Null)
            {
                return new(InvocationOutcome.Success, -1, state, !reportItemFailures && ListsFailures(root));
            }

            if ((root.ValueKind == JsonValueKind.Array && root.GetArrayLength() == 0) || (root.ValueKind == JsonValueKind.String && root.GetString()!.Length == 0))
            {
                // Recorded on AWS (LocalStack's snapshots of test_kinesis_report_batch_item_success_scenarios,
                // empty_list_success and empty_string_success): a function returning [] or "" is invoked once, a success.
                return new(InvocationOutcome.Success, -1, state);
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return ResponseVerdict.Error;
            }

            if (!root.TryGetProperty("batchItemFailures", out JsonElement failures) || failures.ValueKind == JsonValueKind.Null)
            {
                return new(InvocationOutcome.Success, -1, state);
            }

            if (failures.ValueKind != JsonValueKind.Array)
            {
                return ResponseVerdict.Error;
            }

            int lowest = int.MaxValue;
            foreach (JsonElement item in failures.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object
                    || !item.TryGetProperty("itemIdentifier", out JsonElement id)
                    || id.ValueKind != JsonValueKind.String
                    || id.GetString() is not { Length: > 0 } sequenceNumber)
                {
                    return ResponseVerdict.Error;
                }

                int index = IndexOf(records, sequenceNumber);
                if (index < 0)
                {
                    // Not a record of this batch: the emulator counts it as a complete failure (AWS does not document it).
                    return ResponseVerdict.Error;
                }

                lowest = Math.Min(lowest, index);
            }

            return lowest == int.MaxValue
                ? new(InvocationOutcome.Success, -1, state)
                : new(InvocationOutcome.Partial, lowest, state);
        }
    }

    /// <summary>
    /// Whether a response lists batch item failures that a mapping without ReportBatchItemFailures ignores (Lambda then
    /// checkpoints the whole batch: the records the function could not process are lost to it). Read only when the
    /// bytes name the field, so a run of plain responses parses nothing.
    /// </summary>
    private static bool ListsFailures(ReadOnlySpan<byte> response)
    {
        if (response.IndexOf("batchItemFailures"u8) < 0)
        {
            return false;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(response.ToArray());
            return ListsFailures(document.RootElement);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool ListsFailures(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
        && root.TryGetProperty("batchItemFailures", out JsonElement failures)
        && failures.ValueKind == JsonValueKind.Array
        && failures.GetArrayLength() > 0;

    private static int IndexOf(IReadOnlyList<SimRecord> records, string sequenceNumber)
    {
        for (int i = 0; i < records.Count; i++)
        {
            if (string.Equals(records[i].SequenceNumber, sequenceNumber, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool IsBlank(ReadOnlySpan<byte> response)
    {
        foreach (byte b in response)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
