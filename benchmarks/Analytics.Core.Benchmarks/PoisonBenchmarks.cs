using System.Buffers;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// The whole pipeline on an event of <see cref="RecordCount"/> records that are all poison for one reason
/// (<see cref="Batch"/>), against the same pipeline on a valid event of as many records (<c>Batch = Valid</c>): what a
/// hostile or broken producer costs per record. Each poison record is quarantined (the no-op sink accepts it), so the
/// figures include building its quarantine entry (its payload as base64 and its detail).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class PoisonBenchmarks
{
    private const string Valid = "Valid";

    private byte[] _event = [];
    private readonly ArrayBufferWriter<byte> _response = new(64 * 1024);
    private KinesisBatchProcessor _processor = null!;
    private DateTimeOffset _deadline;

    /// <summary>Records per event: the Lambda default batch size.</summary>
    [Params(100)]
    public int RecordCount { get; set; }

    /// <summary><c>Valid</c>, or the name of a <see cref="PoisonReason"/>: every record of the event is poison for it.</summary>
    [ParamsSource(nameof(Batches))]
    public string Batch { get; set; } = Valid;

    public static IEnumerable<string> Batches() =>
        [Valid, .. Enum.GetValues<PoisonReason>().Where(r => r != PoisonReason.None).Select(r => r.ToString())];

    [GlobalSetup]
    public void Setup()
    {
        ProcessorOptions options = ProcessorOptions.Default;
        if (Batch == Valid)
        {
            _event = BenchmarkData.Event(BenchmarkData.Records(RecordCount, out _));
        }
        else
        {
            PoisonReason reason = Enum.Parse<PoisonReason>(Batch);
            var random = new Random(RecordCount);
            _event = BenchmarkData.EventOfBase64([.. Enumerable.Range(0, RecordCount).Select(i => PoisonBase64(reason, i, random))]);
            if (reason == PoisonReason.TooLarge)
            {
                options = options with { Parser = options.Parser with { MaxRecordBytes = BenchmarkData.MinRecordBytes } };
            }
            else if (reason == PoisonReason.CardinalityLimit)
            {
                options = options with { Aggregator = options.Aggregator with { MaxPairs = 2 } };
            }
        }

        _processor = new KinesisBatchProcessor(new DurableNoOpAggregateSink(), new DurableNoOpQuarantineSink(), options);
        _deadline = DateTimeOffset.UtcNow.AddDays(1);

        BatchSummary summary = _processor.ProcessAsync(_event, _deadline, _response).GetAwaiter().GetResult();
        bool ok = Batch == Valid
            ? summary.ValidRecords == RecordCount && summary.PoisonRecords == 0
            : summary.PoisonRecords == RecordCount && summary.GetPoisonCount(Enum.Parse<PoisonReason>(Batch)) == RecordCount;
        if (!ok)
        {
            throw new InvalidOperationException($"{Batch}: {summary.ValidRecords} valid and {summary.PoisonRecords} poison records of {RecordCount}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _processor.Dispose();

    [Benchmark]
    public int Pipeline()
    {
        _response.ResetWrittenCount();
        BatchSummary summary = _processor.ProcessAsync(_event, _deadline, _response).GetAwaiter().GetResult();
        return summary.ValidRecords + summary.PoisonRecords;
    }

    /// <summary>The base64 <c>data</c> of poison record <paramref name="i"/>: a realistic sample broken for <paramref name="reason"/>.</summary>
    public static string PoisonBase64(PoisonReason reason, int i, Random random)
    {
        int series = random.Next(1000);
        long ts = BenchmarkData.ArrivalMs - random.Next(0, 90_000);
        string value = BenchmarkData.NextValue(random).ToString("R", CultureInfo.InvariantCulture);
        string good = BenchmarkData.Sample(series, BenchmarkData.NextValue(random), ts, extra: true);
        string Text(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));
        string WithDimensions(string dims) => good.Substring(0, good.IndexOf(",\"dimensions\"", StringComparison.Ordinal)) + ",\"dimensions\":" + dims + "}";
        return reason switch
        {
            PoisonReason.InvalidBase64 => "not*base64!" + i.ToString(CultureInfo.InvariantCulture),
            PoisonReason.EmptyData => Text("  \n "),
            PoisonReason.TooLarge => Text(good + new string(' ', BenchmarkData.MinRecordBytes)),
            PoisonReason.InvalidUtf8 => Convert.ToBase64String([.. Encoding.UTF8.GetBytes(good[..^20]), 0xFF, .. Encoding.UTF8.GetBytes(good[^20..])]),
            PoisonReason.InvalidJson => Text(good.Replace("\"value\":" + good.Split("\"value\":")[1].Split(',')[0], "\"value\":tru", StringComparison.Ordinal)),
            PoisonReason.NestingTooDeep => Text(good[..^1] + ",\"x\":" + new string('[', 40) + new string(']', 40) + "}"),
            PoisonReason.MissingField => Text(good.Replace(",\"timestamp\":" + ts.ToString(CultureInfo.InvariantCulture), string.Empty, StringComparison.Ordinal)),
            PoisonReason.DuplicateField => Text(good[..^1] + ",\"value\":" + value + "}"),
            PoisonReason.WrongType => Text(good.Replace("\"value\":", "\"value\":\"", StringComparison.Ordinal).Replace(",\"timestamp\"", "\",\"timestamp\"", StringComparison.Ordinal)),
            PoisonReason.NonFiniteValue => Text(BenchmarkData.Sample(series, 1, ts, extra: true).Replace("\"value\":1,", "\"value\":1e400,", StringComparison.Ordinal)),
            PoisonReason.InvalidTimestamp => Text(good.Replace("\"timestamp\":" + ts.ToString(CultureInfo.InvariantCulture), "\"timestamp\":\"yesterday\"", StringComparison.Ordinal)),
            PoisonReason.InvalidMetricName => Text(good.Replace("\"metric\":\"" + BenchmarkData.Metric(series) + "\"", "\"metric\":\" \"", StringComparison.Ordinal)),
            PoisonReason.DimensionTooLong => Text(WithDimensions("{\"service\":\"" + new string('s', 1025) + "\"}")),
            PoisonReason.TooManyDimensions => Text(WithDimensions("{" + string.Join(',', Enumerable.Range(0, 31).Select(k => $"\"k{k}\":\"v\"")) + "}")),
            PoisonReason.TimestampInFuture => Text(BenchmarkData.Sample(series, 1, BenchmarkData.ArrivalMs + 3_600_000, extra: true)),
            PoisonReason.TimestampTooOld => Text(BenchmarkData.Sample(series, 1, BenchmarkData.ArrivalMs - (2 * 86_400_000L), extra: true)),
            PoisonReason.CardinalityLimit => Text(string.Join('\n', Enumerable.Range(0, 3).Select(k => BenchmarkData.Sample((series + k) % 1000, 1, ts, extra: false)))),
            PoisonReason.AggregateChecksumMismatch => Convert.ToBase64String(Corrupt(Micro.KplEncoder.Aggregate([("k", Encoding.UTF8.GetBytes(good))]))),
            PoisonReason.AggregateMalformed => Convert.ToBase64String([0xF3, 0x89, 0x9A, 0xC2, 1, 2, 3, (byte)i]),
            PoisonReason.InvalidDimensionKey => Text(WithDimensions("{\"\":\"v\"}")),
            _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "no poison record for this reason"),
        };
    }

    private static byte[] Corrupt(byte[] container)
    {
        container[^1] ^= 0xFF; // the trailing MD5
        return container;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // Every event has 100 records: no per-record allocation column (it compares sizes); Allocated / 100 is per record.
            AddColumn(new RecordsPerSecondColumn());
            Orderer = new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared, BenchmarkDotNet.Order.MethodOrderPolicy.Declared);
        }
    }
}
