using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Records;

/// <summary>An expected sample: what the generator meant, independent of how it was written.</summary>
internal sealed record ExpectedSample(string Metric, double Value, long TimestampMs, KeyValuePair<string, string>[] Dimensions)
{
    public byte[] Key => SeriesKey.Encode(Metric, Dimensions);
}

/// <summary>A generated record: its bytes and the samples it must parse to.</summary>
internal sealed record GeneratedRecord(byte[] Data, ExpectedSample[] Samples, long ArrivalMs)
{
    public override string ToString() => Encoding.UTF8.GetString(Data);
}

/// <summary>Generators of valid metric records written in every way the schema allows.</summary>
internal static class SampleGenerators
{
    private static readonly string[] s_alphabet = ["a", "b", "c", "X", "Y", "Z", "0", "1", "9", " ", "_", "-", ".", "/", ":", "\"", "\\", "\t", "é", "€", "😀", "\u0001", "\u2028"];

    /// <summary>Text of 1..n chars drawn from an alphabet with quotes, backslashes, control chars, BMP and astral chars.</summary>
    public static Gen<string> Text(int maxChars) =>
        Gen.Choose(1, maxChars).SelectMany(n => Gen.ArrayOf(Gen.Elements(s_alphabet), n)).Select(string.Concat);

    public static readonly Gen<double> Value = Gen.OneOf(
        ArbMap.Default.GeneratorFor<NormalFloat>().Select(f => f.Get),
        Gen.Choose(-1000, 1000).Select(i => (double)i),
        Gen.Elements(0.0, -0.0, double.MaxValue, double.MinValue, double.Epsilon, 1e-300));

    public static readonly Gen<long> Timestamp =
        Gen.Choose(-24 * 3600, 5 * 60).SelectMany(sec => Gen.Choose(0, 999).Select(ms => TestEvents.Arrival + (sec * 1000L) + ms))
            .Where(t => t >= TestEvents.Arrival - (24 * 3600 * 1000L) && t <= TestEvents.Arrival + (5 * 60 * 1000L));

    public static readonly Gen<ExpectedSample> Sample =
        from text in Text(40)
        let metric = text.Any(c => !char.IsControl(c) && !char.IsWhiteSpace(c)) ? text : text + "m" // a name needs a visible character
        from value in Value
        from ts in Timestamp
        from dimCount in Gen.Choose(0, 6)
        from keys in Gen.ArrayOf(Text(12), dimCount)
        from values in Gen.ArrayOf(Text(20).Select(s => s), dimCount)
        let dims = keys.Select((k, i) => new KeyValuePair<string, string>(k, values[i]))
            .DistinctBy(d => d.Key, StringComparer.Ordinal).ToArray()
        select new ExpectedSample(metric, value, ts, dims);

    /// <summary>One JSON string literal for <paramref name="s"/>, escaping chosen characters at random.</summary>
    private static Gen<string> JsonString(string s) =>
        Gen.ArrayOf(Gen.Choose(0, 3), s.Length).Select(modes =>
        {
            var sb = new StringBuilder("\"");
            int i = 0;
            while (i < s.Length)
            {
                char c = s[i];
                bool pair = char.IsHighSurrogate(c) && i + 1 < s.Length;
                bool mustEscape = c is '"' or '\\' || c < 0x20;
                if (mustEscape || modes[i] == 0)
                {
                    sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    if (pair)
                    {
                        sb.Append("\\u").Append(((int)s[i + 1]).ToString("X4", CultureInfo.InvariantCulture));
                    }
                }
                else if (c == '/' && modes[i] == 1)
                {
                    sb.Append("\\/");
                }
                else
                {
                    sb.Append(c);
                    if (pair)
                    {
                        sb.Append(s[i + 1]);
                    }
                }

                i += pair ? 2 : 1;
            }

            return sb.Append('"').ToString();
        });

    private static readonly Gen<string> s_ws = Gen.Elements("", "", " ", "\t", "  ", "\r\n ");

    /// <summary>Ignored JSON of random shape: nested objects and arrays, within the depth limit.</summary>
    private static Gen<string> Noise(int depth) =>
        depth == 0
            ? Gen.Elements("1", "-2.5e3", "true", "null", "\"x\\n\"", "{}", "[]")
            : Gen.OneOf(
                Noise(0),
                Gen.ListOf(Noise(depth - 1)).Select(xs => "[" + string.Join(",", xs.Take(3)) + "]"),
                Gen.ListOf(Noise(depth - 1)).Select(xs => "{" + string.Join(",", xs.Take(3).Select((x, i) => $"\"n{i}\":{x}")) + "}"));

    private static Gen<string> TimestampJson(long ms) =>
        Gen.Choose(0, 3).Select(mode =>
        {
            DateTimeOffset t = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return mode switch
            {
                0 => "\"" + t.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) + "\"",
                1 => "\"" + t.ToOffset(TimeSpan.FromHours(2)).ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture) + "\"",
                2 => ms.ToString(CultureInfo.InvariantCulture) + ".0",
                _ => ms.ToString(CultureInfo.InvariantCulture),
            };
        });

    /// <summary>One sample written as a JSON object with random member order, escapes, white space and noise.</summary>
    public static Gen<string> Write(ExpectedSample s) =>
        from metric in JsonString(s.Metric)
        from ts in TimestampJson(s.TimestampMs)
        from dimNames in Gen.CollectToArray(s.Dimensions.Select(d => JsonString(d.Key)))
        from dimValues in Gen.CollectToArray(s.Dimensions.Select(d => JsonString(d.Value)))
        from dimOrder in Gen.Shuffle(Enumerable.Range(0, s.Dimensions.Length).ToArray())
        from writeEmptyDims in ArbMap.Default.GeneratorFor<bool>()
        from noise in Gen.ListOf(Noise(3))
        from ws in Gen.ArrayOf(s_ws, 8)
        let dimsJson = "{" + string.Join(",", dimOrder.Select(i => dimNames.ElementAt(i) + ws[1] + ":" + dimValues.ElementAt(i))) + "}"
        let members = new List<string>
        {
            "\"metric\"" + ws[2] + ":" + ws[3] + metric,
            "\"value\":" + s.Value.ToString("R", CultureInfo.InvariantCulture),
            "\"timest\\u0061mp\":" + ts,
        }
            .Concat(s.Dimensions.Length > 0 || writeEmptyDims ? ["\"dimensions\":" + dimsJson] : [])
            .Concat(noise.Take(3).Select((n, i) => $"\"extra{i}\":{n}"))
        from order in Gen.Shuffle(members.ToArray())
        select "{" + ws[4] + string.Join("," + ws[5], order) + ws[6] + "}";

    /// <summary>A whole record: one or more samples, NDJSON with \n or \r\n, blank lines, optional BOM and trailing newline.</summary>
    public static readonly Gen<GeneratedRecord> Record =
        from samples in Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Sample, n))
        from written in Gen.CollectToArray(samples.Select(Write))
        from separators in Gen.ArrayOf(Gen.Elements("\n", "\r\n", "\n\n", " \n \r\n"), samples.Length)
        from bom in ArbMap.Default.GeneratorFor<bool>()
        from trailing in ArbMap.Default.GeneratorFor<bool>()
        let text = string.Concat(written.Select((w, i) => i == 0 ? w : separators[i] + w)) + (trailing ? "\n" : "")
        select new GeneratedRecord([.. (bom ? new byte[] { 0xEF, 0xBB, 0xBF } : []), .. Encoding.UTF8.GetBytes(text)], samples, TestEvents.Arrival);
}
