using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>What Lambda makes of a function's response.</summary>
internal readonly record struct ResponseVerdict(InvocationOutcome Outcome, int FirstFailed, string? State, bool IgnoredFailures = false, string? Problem = null)
{
    /// <summary>Whether the mapping rejected the response (<see cref="Problem"/> says why).</summary>
    public bool BadResponse => Problem is not null;

    /// <summary>
    /// A response Lambda counts as a complete failure: the function returned, so its error is not "Unhandled".
    /// <paramref name="problem"/> says what the mapping could not accept, in the emulator's words (AWS reports none).
    /// </summary>
    public static ResponseVerdict Rejected(string problem) => new(InvocationOutcome.Error, -1, null, Problem: problem);
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
            return window ? ResponseVerdict.Rejected("the response is empty, and a tumbling-window invocation must return its state") : new(InvocationOutcome.Success, -1, null);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(response.ToArray());
        }
        catch (JsonException)
        {
            return ResponseVerdict.Rejected("the response is not JSON");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            string? state = null;
            if (window)
            {
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("state", out JsonElement stateElement) || stateElement.ValueKind != JsonValueKind.Object)
                {
                    return ResponseVerdict.Rejected("the response has no \"state\" object, which a tumbling-window invocation must return");
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
                return ResponseVerdict.Rejected($"the response is a JSON {Kind(root)}, not an object with \"batchItemFailures\"");
            }

            if (!root.TryGetProperty("batchItemFailures", out JsonElement failures) || failures.ValueKind == JsonValueKind.Null)
            {
                return new(InvocationOutcome.Success, -1, state);
            }

            if (failures.ValueKind != JsonValueKind.Array)
            {
                return ResponseVerdict.Rejected($"\"batchItemFailures\" is a JSON {Kind(failures)}, not an array");
            }

            int lowest = int.MaxValue;
            int position = -1;
            foreach (JsonElement item in failures.EnumerateArray())
            {
                position++;
                string At() => $"batchItemFailures[{position}]"; // built only for a rejection
                if (item.ValueKind != JsonValueKind.Object)
                {
                    return ResponseVerdict.Rejected($"{At()} is a JSON {Kind(item)}, not an object with \"itemIdentifier\"");
                }

                if (!item.TryGetProperty("itemIdentifier", out JsonElement id))
                {
                    return ResponseVerdict.Rejected($"{At()} has no \"itemIdentifier\" (the name is case-sensitive)");
                }

                if (id.ValueKind != JsonValueKind.String || id.GetString() is not { Length: > 0 } sequenceNumber)
                {
                    return ResponseVerdict.Rejected(id.ValueKind == JsonValueKind.String
                        ? $"{At()}.itemIdentifier is empty"
                        : $"{At()}.itemIdentifier is a JSON {Kind(id)}, not a record's sequence number");
                }

                int index = IndexOf(records, sequenceNumber);
                if (index < 0)
                {
                    // Not a record of this batch: the emulator counts it as a complete failure (AWS does not document it).
                    // The identifier is not quoted: it is the handler's output, which may carry record data.
                    return ResponseVerdict.Rejected($"{At()}.itemIdentifier is not the sequence number of a record of this batch");
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

    /// <summary>A JSON value's kind in words, for <see cref="ResponseVerdict.Problem"/>.</summary>
    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

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
