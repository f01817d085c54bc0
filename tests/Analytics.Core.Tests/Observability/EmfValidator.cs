using System.Text.Json;

namespace Analytics.Core.Tests;

/// <summary>
/// An independent check of one line against the CloudWatch Embedded Metric Format specification, written from the
/// specification's rules, not from the writer: it shares no code with <see cref="EmfMetrics"/>.
/// </summary>
internal static class EmfValidator
{
    // The units CloudWatch accepts (MetricDatum.Unit / StandardUnit).
    private static readonly HashSet<string> s_units = new(StringComparer.Ordinal)
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
        "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
        "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    };

    /// <summary>The rules the line breaks; empty when it is valid EMF.</summary>
    public static List<string> Validate(string line)
    {
        var errors = new List<string>();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            errors.Add("not JSON: " + e.Message);
            return errors;
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors.Add("root is not an object");
                return errors;
            }

            if (!root.TryGetProperty("_aws", out JsonElement aws) || aws.ValueKind != JsonValueKind.Object)
            {
                errors.Add("_aws object missing");
                return errors;
            }

            if (!aws.TryGetProperty("Timestamp", out JsonElement timestamp) || timestamp.ValueKind != JsonValueKind.Number || !timestamp.TryGetInt64(out long ms) || ms < 0)
            {
                errors.Add("_aws.Timestamp is not a non-negative integer number of epoch milliseconds");
            }

            if (!aws.TryGetProperty("CloudWatchMetrics", out JsonElement directives) || directives.ValueKind != JsonValueKind.Array)
            {
                errors.Add("_aws.CloudWatchMetrics array missing");
                return errors;
            }

            foreach (JsonElement directive in directives.EnumerateArray())
            {
                ValidateDirective(root, directive, errors);
            }
        }

        return errors;
    }

    private static void ValidateDirective(JsonElement root, JsonElement directive, List<string> errors)
    {
        if (directive.ValueKind != JsonValueKind.Object)
        {
            errors.Add("metric directive is not an object");
            return;
        }

        if (!directive.TryGetProperty("Namespace", out JsonElement ns) || ns.ValueKind != JsonValueKind.String || !IsValidName(ns.GetString()))
        {
            errors.Add("Namespace missing or not 1-255 characters");
        }

        if (!directive.TryGetProperty("Dimensions", out JsonElement dimensionSets) || dimensionSets.ValueKind != JsonValueKind.Array)
        {
            errors.Add("Dimensions array missing");
        }
        else
        {
            foreach (JsonElement set in dimensionSets.EnumerateArray())
            {
                if (set.ValueKind != JsonValueKind.Array)
                {
                    errors.Add("dimension set is not an array");
                    continue;
                }

                if (set.GetArrayLength() > 30)
                {
                    errors.Add("dimension set has more than 30 names");
                }

                foreach (JsonElement name in set.EnumerateArray())
                {
                    string? key = name.ValueKind == JsonValueKind.String ? name.GetString() : null;
                    if (!IsValidName(key))
                    {
                        errors.Add("dimension name is not a 1-255 character string");
                    }
                    else if (!root.TryGetProperty(key!, out JsonElement value) || value.ValueKind != JsonValueKind.String)
                    {
                        errors.Add($"dimension '{key}' is not a top-level string member");
                    }
                    else if (value.GetString()!.Length is 0 or > 1024)
                    {
                        errors.Add($"dimension '{key}' value is not 1-1024 characters");
                    }
                }
            }
        }

        if (!directive.TryGetProperty("Metrics", out JsonElement metrics) || metrics.ValueKind != JsonValueKind.Array)
        {
            errors.Add("Metrics array missing");
            return;
        }

        if (metrics.GetArrayLength() > 100)
        {
            errors.Add("more than 100 metrics in a directive");
        }

        foreach (JsonElement metric in metrics.EnumerateArray())
        {
            if (metric.ValueKind != JsonValueKind.Object)
            {
                errors.Add("metric definition is not an object");
                continue;
            }

            string? name = metric.TryGetProperty("Name", out JsonElement n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (!IsValidName(name))
            {
                errors.Add("metric Name missing or not 1-255 characters");
                continue;
            }

            if (metric.TryGetProperty("Unit", out JsonElement unit) && (unit.ValueKind != JsonValueKind.String || !s_units.Contains(unit.GetString()!)))
            {
                errors.Add($"metric '{name}' has a unit CloudWatch does not accept: {unit}");
            }

            if (metric.TryGetProperty("StorageResolution", out JsonElement resolution) && !(resolution.ValueKind == JsonValueKind.Number && resolution.GetDouble() is 1 or 60))
            {
                errors.Add($"metric '{name}' StorageResolution is not 1 or 60");
            }

            if (!root.TryGetProperty(name!, out JsonElement value))
            {
                errors.Add($"metric '{name}' has no top-level member");
            }
            else if (value.ValueKind == JsonValueKind.Array)
            {
                if (value.GetArrayLength() > 100 || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                {
                    errors.Add($"metric '{name}' array is not up to 100 numbers");
                }
            }
            else if (value.ValueKind != JsonValueKind.Number)
            {
                errors.Add($"metric '{name}' value is not a number");
            }
        }
    }

    private static bool IsValidName(string? name) => name is { Length: >= 1 and <= 255 };
}
