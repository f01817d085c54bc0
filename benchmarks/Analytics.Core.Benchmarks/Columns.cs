using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Analytics.Core.Benchmarks;

/// <summary>Records per second of one run: RecordCount / mean time.</summary>
public sealed class RecordsPerSecondColumn : IColumn
{
    public string Id => nameof(RecordsPerSecondColumn);

    public string ColumnName => "Records/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Records processed per second on one core (RecordCount / Mean)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        BenchmarkReport? report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats || benchmarkCase.Parameters["RecordCount"] is not int count)
        {
            return "-";
        }

        return (count / (stats.Mean / 1e9)).ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}

/// <summary>
/// Bytes allocated per record: (Allocated at the largest RecordCount − Allocated at 100 records) / the difference in
/// records, for the same method (the next smaller count when 100 did not run); shown on the row of the largest
/// count. A fixed per-batch amount cancels out.
/// </summary>
public sealed class AllocatedPerRecordColumn : IColumn
{
    public string Id => nameof(AllocatedPerRecordColumn);

    public string ColumnName => "Alloc/record";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 1;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Bytes allocated per record: (Allocated(largest N) − Allocated(100)) / (N − 100) for the method";

    private const int ReferenceCount = 100;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var rows = summary.BenchmarksCases
            .Where(c => c.Descriptor.WorkloadMethod == benchmarkCase.Descriptor.WorkloadMethod && c.Parameters["RecordCount"] is int)
            .Select(c => (Count: (int)c.Parameters["RecordCount"], Bytes: summary[c]?.GcStats.GetBytesAllocatedPerOperation(c)))
            .Where(r => r.Bytes is not null)
            .OrderByDescending(r => r.Count)
            .ToList();
        if (rows.Count < 2 || benchmarkCase.Parameters["RecordCount"] is not int own || own != rows[0].Count)
        {
            return "-";
        }

        var reference = rows.Skip(1).FirstOrDefault(r => r.Count == ReferenceCount, rows[1]);
        double perRecord = (double)(rows[0].Bytes!.Value - reference.Bytes!.Value) / (rows[0].Count - reference.Count);
        return perRecord.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + " B";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
