// README:start
using Analytics.Core;

public static class Poison
{
    // KinesisEventReader is a ref struct over the event's bytes (like Utf8JsonReader): use it in a method that
    // does not await, and call that method from async code.
    public static int Count(ReadOnlySpan<byte> eventBytes, TextWriter log)
    {
        var reader = new KinesisEventReader(eventBytes);
        var validator = new RecordValidator(MetricParserOptions.Default with { MetricField = "name" });
        int poison = 0;
        while (reader.Read())
        {
            RecordVerdict verdict = validator.Validate(reader.Current);
            if (!verdict.IsValid)
            {
                poison++;
                log.WriteLine($"{reader.Current.GetSequenceNumberString()}: {verdict.Reason} {verdict.Detail}");
            }
        }

        return poison;
    }
}
// README:end
