using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// One Lambda Kinesis event of <see cref="RecordCount"/> metric records, processed three ways on the same bytes:
/// <see cref="Baseline"/> (System.Text.Json into POCOs, dictionary of lists), <see cref="Pipeline"/> (the library's
/// whole batch pipeline with no-op durable sinks) and <see cref="Floor"/> (read, decode and tokenize every byte,
/// nothing else).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class EventBenchmarks
{
    private byte[] _event = [];
    private readonly ArrayBufferWriter<byte> _response = new(1024);
    private KinesisBatchProcessor _processor = null!;
    private BaselineProcessor _baseline = null!;
    private FloorReader _floor = null!;
    private DateTimeOffset _deadline;

    [Params(1, 100, 1000, 10000)]
    public int RecordCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        List<byte[]> records = BenchmarkData.Records(RecordCount, out int samples);
        _event = BenchmarkData.Event(records);
        _processor = new KinesisBatchProcessor(new DurableNoOpAggregateSink(), new DurableNoOpQuarantineSink(), ProcessorOptions.Default);
        _baseline = new BaselineProcessor();
        _floor = new FloorReader();
        _deadline = DateTimeOffset.UtcNow.AddDays(1);

        // The three must do the same job on the same input: every record valid, the same samples and groups.
        BatchSummary summary = _processor.ProcessAsync(_event, _deadline, _response).GetAwaiter().GetResult();
        int baselineSamples = _baseline.Process(_event, _response);
        if (summary.ValidRecords != RecordCount || summary.PoisonRecords != 0 || summary.Samples != samples
            || baselineSamples != samples || summary.AggregatesWritten != _baseline.Aggregates.Count || _floor.Read(_event) == 0)
        {
            throw new InvalidOperationException(
                $"Inputs disagree: {RecordCount} records, {samples} samples; pipeline {summary.ValidRecords} valid, {summary.PoisonRecords} poison, "
                + $"{summary.Samples} samples, {summary.AggregatesWritten} aggregates; baseline {baselineSamples} samples, {_baseline.Aggregates.Count} aggregates.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _processor.Dispose();

    [Benchmark(Baseline = true)]
    public int Baseline()
    {
        _response.ResetWrittenCount();
        return _baseline.Process(_event, _response);
    }

    [Benchmark]
    public int Pipeline()
    {
        _response.ResetWrittenCount();
        return _processor.ProcessAsync(_event, _deadline, _response).GetAwaiter().GetResult().Samples;
    }

    [Benchmark]
    public int Floor() => _floor.Read(_event);

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RecordsPerSecondColumn(), new AllocatedPerRecordColumn());
            Orderer = new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared, BenchmarkDotNet.Order.MethodOrderPolicy.Declared);
        }
    }
}
