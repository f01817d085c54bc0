using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Events;

/// <summary>
/// <see cref="KinesisEventReader"/> (the envelope scanner, with its fallback) against
/// <see cref="JsonKinesisEventReader"/> (the reader on Utf8JsonReader it replaced, kept as the definition): the same
/// records (every field, escapes, offsets), the same top-level facts, and the same error (type, words, byte offset) for
/// generated events of every shape and for events mutated byte by byte or truncated. The usual shape must be read by
/// the scanner itself (no fallback), else the agreement would prove nothing about it.
/// </summary>
public class KinesisEventReaderAgreementTests
{
    private const int Runs = 2000;

    private static readonly string[] s_pieces =
    [
        "{", "}", "[", "]", ":", ",", " ", "\n", "\t", "\r\n", "\"", "\\", "\\\"", "\\u", "\\u00", "\\ud800",
        "\"data\"", "\"kinesis\"", "\"eventID\"", "\"sequenceNumber\"", "\"partitionKey\"", "\"Records\"",
        "\"approximateArrivalTimestamp\"", "\"eventSourceARN\"", "\"d\\u0061ta\"", "\"x\":", "\"x\":{", "\"x\":[",
        "1", "0", "-", "-0", "01", "1.", "1.5", "1e", "1e+", "1E-3", "1545084650.9876", "true", "false", "null", "tru", "nul",
        "é", "\u0001", "\u007f", "/", "x", "=", ":4", "shardId-000000000001:", "[]", "{}", "\"window\":", "\"state\":",
    ];

    private sealed record GeneratedEvent(byte[] Bytes, bool Usual);

    private static readonly Gen<GeneratedEvent> s_events =
        from seed in Gen.Choose(0, int.MaxValue)
        from records in Gen.Choose(0, 12)
        from usual in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
        select Build(new Random(seed), records, usual);

    private static readonly Gen<byte[]> s_mutated =
        from e in s_events
        from n in Gen.Choose(1, 3)
        from edits in Gen.ArrayOf(
            from op in Gen.Choose(0, 4)
            from at in Gen.Choose(0, int.MaxValue)
            from piece in Gen.Elements(s_pieces)
            select (op, at, piece),
            n)
        select Mutate(e.Bytes, edits);

    [Fact]
    public void GeneratedEventsAgreeAndTheUsualShapeIsScanned()
    {
        Prop.ForAll(s_events.ToArbitrary(), e =>
        {
            (string expected, _) = Observe.ByReference(e.Bytes);
            (string actual, bool fallback) = Observe.ByScanner(e.Bytes);
            Assert.Equal(expected, actual);
            Assert.DoesNotContain("error:", actual);
            if (e.Usual)
            {
                Assert.False(fallback, "the scanner handed a usual event to the fallback:\n" + Encoding.UTF8.GetString(e.Bytes));
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
    }

    [Fact]
    public void MutatedAndTruncatedEventsAgree()
    {
        int errors = 0;
        Prop.ForAll(s_mutated.ToArbitrary(), bytes =>
        {
            (string expected, _) = Observe.ByReference(bytes);
            (string actual, _) = Observe.ByScanner(bytes);
            Assert.Equal(expected, actual);
            errors += expected.Contains("error:", StringComparison.Ordinal) ? 1 : 0;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));

        // The mutations must reach the error paths, or the property says little about them.
        Assert.InRange(errors, Runs / 4, Runs);
    }

    public static TheoryData<string> Cases() =>
    [
        // Duplicate keys (record, kinesis, top level), escaped keys, a known name escaped.
        Event(Record(1).Replace("\"eventID\"", "\"eventID\":\"shardId-000000000001:1\",\"eventID\"", StringComparison.Ordinal)),
        Event(Record(1).Replace("\"data\"", "\"data\":\"eA==\",\"data\"", StringComparison.Ordinal)),
        "{\"Records\":[" + Record(1) + "],\"Records\":[]}",
        Event(Record(1).Replace("\"data\"", "\"d\\u0061ta\"", StringComparison.Ordinal)),
        Event(Record(1).Replace("\"eventName\"", "\"ev\\u0065ntName\"", StringComparison.Ordinal)),

        // Nested unknown objects and arrays, strings with escaped quotes, whitespace everywhere.
        Event(Record(1).Replace("\"eventName\"", "\"x\":{\"a\":[1,{\"b\":[[],{}]},\"q\\\"\\\\\"],\"c\":null},\"eventName\"", StringComparison.Ordinal)),
        Event(Record(1).Replace("\"awsRegion\":\"us-east-1\"", "\"awsRegion\":\"us-\\\"east\\\"-1\"", StringComparison.Ordinal)),
        " \r\n\t{ \"Records\" :\n[ " + Record(1).Replace(":", " :\t", StringComparison.Ordinal).Replace(",", "\n, ", StringComparison.Ordinal) + " ,\n" + Record(2) + " ] } \n",

        // Truncated, trailing content, nesting past the scanner's and past the reader's limit.
        Event(Record(1))[..^3],
        Event(Record(1)) + "{}",
        Event(Record(1).Replace("\"eventName\"", "\"x\":" + new string('[', 40) + new string(']', 40) + ",\"eventName\"", StringComparison.Ordinal)),
        Event(Record(1).Replace("\"eventName\"", "\"x\":" + new string('[', 70) + new string(']', 70) + ",\"eventName\"", StringComparison.Ordinal)),

        // Errors the checks find: out of order, two shards, an eventID of another record, no Records.
        Event(Record(2) + "," + Record(1)),
        Event(Record(1) + "," + Record(2).Replace("shardId-000000000001:", "shardId-000000000002:", StringComparison.Ordinal)),
        Event(Record(1).Replace("000000000001:1\"", "000000000001:7\"", StringComparison.Ordinal)),
        "{\"records\":[]}",

        // A tumbling-window event (the fallback's) with its fields after the records, and a BOM.
        "{\"Records\":[" + Record(1) + "],\"shardId\":\"shardId-000000000001\",\"window\":{\"start\":\"2020-12-09T07:04:00Z\",\"end\":\"2020-12-09T07:06:00Z\"},\"state\":{\"a\":1},\"isFinalInvokeForWindow\":true}",
        "\uFEFF" + Event(Record(1) + "," + Record(2)),
        "\uFEFF" + Event(Record(1).Replace("\"kinesis\"", "\"kinesys\"", StringComparison.Ordinal)),
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void HandPickedEnvelopesAgree(string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        Assert.Equal(Observe.ByReference(bytes).Text, Observe.ByScanner(bytes).Text);
    }

    [Fact]
    public void ASixMegabyteEventIsScannedAndAgrees()
    {
        var records = new StringBuilder();
        string data = Convert.ToBase64String(new byte[4_500]);
        int n = 0;
        while (records.Length < 6 * 1024 * 1024)
        {
            n++;
            records.Append(n == 1 ? string.Empty : ",").Append(Record(n).Replace("\"eA==\"", "\"" + data + "\"", StringComparison.Ordinal));
        }

        byte[] bytes = Encoding.UTF8.GetBytes(Event(records.ToString()));
        (string expected, _) = Observe.ByReference(bytes);
        (string actual, bool fallback) = Observe.ByScanner(bytes);
        Assert.Equal(expected, actual);
        Assert.False(fallback);
        Assert.Contains("count=" + n.ToString(CultureInfo.InvariantCulture) + ";", actual);
    }

    [Fact]
    public void ARecordsByteOffsetCountsTheBomOnce()
    {
        byte[] bytes = Encoding.UTF8.GetBytes("\uFEFF" + Event(Record(1)));
        int brace = Array.IndexOf(bytes, (byte)'{', 4);
        var scanner = new KinesisEventReader(bytes);
        Assert.True(scanner.Read());
        Assert.Equal(brace, scanner.Current.ByteOffset);
        var reference = new JsonKinesisEventReader(bytes);
        Assert.True(reference.Read());
        Assert.Equal(brace, reference.Current.ByteOffset);
    }

    private static string Event(string records) => "{\"Records\":[" + records + "]}";

    private static string Record(int sequence) =>
        "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"" + sequence.ToString(CultureInfo.InvariantCulture) +
        "\",\"data\":\"eA==\",\"approximateArrivalTimestamp\":1545084650.987},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\"," +
        "\"eventID\":\"shardId-000000000001:" + sequence.ToString(CultureInfo.InvariantCulture) + "\",\"eventName\":\"aws:kinesis:record\"," +
        "\"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"}";

    private static byte[] Mutate(byte[] data, (int Op, int At, string Piece)[] edits)
    {
        var bytes = new List<byte>(data);
        foreach ((int op, int at, string piece) in edits)
        {
            int i = bytes.Count == 0 ? 0 : at % bytes.Count;
            byte[] p = Encoding.UTF8.GetBytes(piece);
            switch (op)
            {
                case 0:
                    bytes.InsertRange(i, p);
                    break;
                case 1 when bytes.Count > 0:
                    bytes.RemoveAt(i);
                    break;
                case 2 when bytes.Count > 0:
                    bytes[i] = p[0];
                    break;
                case 3 when bytes.Count > 0:
                    bytes[i] = (byte)(0x80 + (at % 0x80)); // a stray byte: invalid UTF-8, mostly
                    break;
                default:
                    bytes.RemoveRange(i, bytes.Count - i); // truncated
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>
    /// A Lambda Kinesis event of <paramref name="count"/> records in any order of fields, with white space, unknown
    /// fields of every JSON type and escapes in values; unless <paramref name="usual"/>, also what the scanner leaves
    /// to the fallback (escaped known names, tumbling-window fields, an arrival time in exponent form, deep nesting,
    /// escaped surrogates, a BOM).
    /// </summary>
    private static GeneratedEvent Build(Random r, int count, bool usual)
    {
        var sb = new StringBuilder();
        string Ws() => r.Next(5) switch { 0 => " ", 1 => "\n  ", 2 => "\t", 3 => "\r\n", _ => string.Empty };
        string Name(string name) => !usual && r.Next(12) == 0 ? "\"" + Escape(name) + "\"" : "\"" + name + "\"";
        string Member(string name, string value) => Ws() + Name(name) + Ws() + ":" + Ws() + value + Ws();

        if (!usual && r.Next(4) == 0)
        {
            sb.Append('\uFEFF');
        }

        var top = new List<string>();
        var records = new List<string>();
        string shard = "shardId-00000000000" + r.Next(10).ToString(CultureInfo.InvariantCulture);
        string arn = "arn:aws:kinesis:us-east-1:123456789012:stream/s" + r.Next(3).ToString(CultureInfo.InvariantCulture);
        System.Numerics.BigInteger sequence = System.Numerics.BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture) + r.Next(1000);
        for (int i = 0; i < count; i++)
        {
            sequence += 1 + r.Next(1_000_000);
            string seq = sequence.ToString(CultureInfo.InvariantCulture);
            byte[] payload = new byte[r.Next(0, 120)];
            r.NextBytes(payload);
            string data = Convert.ToBase64String(payload);
            if (r.Next(6) == 0)
            {
                data = data.Replace("/", "\\/", StringComparison.Ordinal);
            }

            string key = r.Next(5) switch
            {
                0 => "k\\u0065y-" + i.ToString(CultureInfo.InvariantCulture),
                1 => "clé \\\"quoted\\\"",
                2 => "日本" + i.ToString(CultureInfo.InvariantCulture),
                _ => "key-" + r.Next(50).ToString(CultureInfo.InvariantCulture),
            };
            string arrival = !usual && r.Next(6) == 0
                ? "1.545084650987E9"
                : (1_545_084_650 + i).ToString(CultureInfo.InvariantCulture) + (r.Next(3) switch { 0 => string.Empty, 1 => ".9", _ => ".987" });
            var kinesis = new List<string>
            {
                Member("kinesisSchemaVersion", "\"1.0\""),
                Member("partitionKey", "\"" + key + "\""),
                Member("sequenceNumber", "\"" + seq + "\""),
                Member("data", "\"" + data + "\""),
                Member("approximateArrivalTimestamp", arrival),
            };
            AddUnknown(kinesis);
            var fields = new List<string>
            {
                Member("kinesis", "{" + string.Join(",", Shuffle(kinesis)) + "}"),
                Member("eventSource", "\"aws:kinesis\""),
                Member("eventVersion", "\"1.0\""),
                Member("eventID", "\"" + shard + ":" + seq + "\""),
                Member("eventName", "\"aws:kinesis:record\""),
                Member("invokeIdentityArn", "\"arn:aws:iam::123456789012:role\\/lambda-role\""),
                Member("awsRegion", "\"us-east-1\""),
            };
            if (r.Next(8) > 0)
            {
                fields.Add(Member("eventSourceARN", "\"" + arn + "\""));
            }

            AddUnknown(fields);
            records.Add(Ws() + "{" + string.Join(",", Shuffle(fields)) + "}" + Ws());
        }

        top.Add(Member("Records", "[" + string.Join(",", records) + Ws() + "]"));
        AddUnknown(top);
        if (!usual && r.Next(2) == 0)
        {
            top.Add(Member("shardId", "\"" + shard + "\""));
            top.Add(Member("eventSourceARN", "\"" + arn + "\""));
            top.Add(Member("window", "{\"start\":\"2020-12-09T07:04:00Z\",\"end\":\"2020-12-09T07:06:00Z\"}"));
            top.Add(Member("state", r.Next(2) == 0 ? "null" : "{\"k\":[1,2]}"));
            top.Add(Member("isFinalInvokeForWindow", r.Next(2) == 0 ? "true" : "false"));
            top.Add(Member("isWindowTerminatedEarly", "false"));
        }

        sb.Append(Ws()).Append('{').Append(string.Join(",", Shuffle(top))).Append('}').Append(Ws());
        return new GeneratedEvent(Encoding.UTF8.GetBytes(sb.ToString()), usual);

        void AddUnknown(List<string> members)
        {
            for (int k = r.Next(3); k > 0; k--)
            {
                members.Add(Member("x" + r.Next(100).ToString(CultureInfo.InvariantCulture), Value(0)));
            }
        }

        string Value(int depth)
        {
            int deepest = usual ? 3 : 40;
            return r.Next(depth < deepest ? 11 : 8) switch
            {
                0 => "\"plain text\"",
                1 => "\"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\\u20AC\"",
                2 => usual ? "\"é€😀\"" : "\"\\ud83d\\ude00\"",
                3 => "-12.5e-3",
                4 => "0",
                5 => "true",
                6 => "null",
                7 => "false",
                8 => "{" + string.Join(",", Enumerable.Range(0, r.Next(3)).Select(k => Member("n" + Escape(k.ToString(CultureInfo.InvariantCulture)), Value(depth + 1)))) + Ws() + "}",
                9 => "[" + Ws() + "]",
                _ => "[" + string.Join(",", Enumerable.Range(0, 1 + r.Next(3)).Select(_ => Ws() + Value(depth + 1) + Ws())) + "]",
            };
        }

        List<string> Shuffle(List<string> items)
        {
            for (int i = items.Count - 1; i > 0; i--)
            {
                int j = r.Next(i + 1);
                (items[i], items[j]) = (items[j], items[i]);
            }

            return items;
        }
    }

    private static string Escape(string name) =>
        "\\u" + ((int)name[0]).ToString("x4", CultureInfo.InvariantCulture) + name[1..];

    /// <summary>Everything a reader tells: each record, the top-level facts at the end, or the error.</summary>
    private static class Observe
    {
        public static (string Text, bool Fallback) ByScanner(byte[] bytes)
        {
            var sb = new StringBuilder();
            var reader = new KinesisEventReader(bytes);
            try
            {
                while (reader.Read())
                {
                    Append(sb, reader.Current, reader.EventSourceArn);
                }

                sb.Append(CultureInfo.InvariantCulture, $"end: count={reader.RecordCount}; shard={Hex(reader.ShardId)}; arn={Hex(reader.EventSourceArn)}; state={Hex(reader.State)}; ")
                    .Append(CultureInfo.InvariantCulture, $"window={reader.HasWindow} {reader.WindowStart:O} {reader.WindowEnd:O} {reader.IsFinalInvokeForWindow} {reader.IsWindowTerminatedEarly}");
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                sb.Append(CultureInfo.InvariantCulture, $"error: {e.GetType().Name} {e.Message} {(e as KinesisEventFormatException)?.BytePosition}");
            }

            return (sb.ToString(), reader.UsesFallback);
        }

        public static (string Text, bool Fallback) ByReference(byte[] bytes)
        {
            var sb = new StringBuilder();
            var reader = new JsonKinesisEventReader(bytes);
            try
            {
                while (reader.Read())
                {
                    Append(sb, reader.Current, reader.EventSourceArn);
                }

                sb.Append(CultureInfo.InvariantCulture, $"end: count={reader.RecordCount}; shard={Hex(reader.ShardId)}; arn={Hex(reader.EventSourceArn)}; state={Hex(reader.State)}; ")
                    .Append(CultureInfo.InvariantCulture, $"window={reader.HasWindow} {reader.WindowStart:O} {reader.WindowEnd:O} {reader.IsFinalInvokeForWindow} {reader.IsWindowTerminatedEarly}");
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                sb.Append(CultureInfo.InvariantCulture, $"error: {e.GetType().Name} {e.Message} {(e as KinesisEventFormatException)?.BytePosition}");
            }

            return (sb.ToString(), true);
        }

        private static void Append(StringBuilder sb, KinesisRecord r, ReadOnlySpan<byte> arn) =>
            sb.Append(CultureInfo.InvariantCulture, $"record at {r.ByteOffset}: seq={Hex(r.SequenceNumber)} pk={Hex(r.RawPartitionKey)} {r.PartitionKeyIsEscaped} ")
                .Append(CultureInfo.InvariantCulture, $"shard={Hex(r.ShardId)} data={Hex(r.RawBase64Data)} {r.DataIsEscaped} arrival={r.ApproximateArrivalTimestampMs} arn={Hex(arn)}\n");

        private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
    }
}
