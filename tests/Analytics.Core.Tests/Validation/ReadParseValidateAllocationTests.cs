using System.Text;

namespace Analytics.Core.Tests.Validation;

/// <summary>Allocation is deterministic, so it is asserted: the read-parse-validate path allocates nothing per record.</summary>
public class ReadParseValidateAllocationTests
{
    internal static byte[] HundredRecordEvent()
    {
        long arrival = 1_737_367_200_000;
        var records = new List<TestRecord>();
        for (int i = 0; i < 100; i++)
        {
            string sample = TestEvents.Sample("latency.p" + (i % 20), i * 1.5, arrival - (i * 1000), ("service", "api-" + (i % 50)), ("région", "eu-west-1"));
            string data = i % 3 == 0 ? sample + "\n" + sample + "\r\n" : sample;
            records.Add(new TestRecord(TestEvents.Seq(i), Encoding.UTF8.GetBytes(data), arrival));
        }

        return TestEvents.Build(records);
    }

    private static int ReadAll(byte[] json, RecordValidator validator)
    {
        int samples = 0;
        var reader = new KinesisEventReader(json);
        while (reader.Read())
        {
            RecordVerdict verdict = validator.Validate(reader.Current);
            samples += verdict.IsValid ? verdict.SampleCount : -1_000_000;
        }

        return samples;
    }

    [Fact]
    public void ReadParseValidate_HundredRecords_AllocatesZeroBytes()
    {
        byte[] json = HundredRecordEvent();
        var validator = new RecordValidator();
        Assert.Equal(134, ReadAll(json, validator)); // warm-up, and proof that every record was parsed

        int samples = 0;
        long allocated = AllocationMeasure.Least(() => samples = ReadAll(json, validator));

        Assert.Equal(134, samples);
        Assert.Equal(0, allocated);
    }

    /// <summary>KPL containers go through the same path (decode, de-aggregate, parse) and allocate nothing either.</summary>
    [Fact]
    public void ReadParseValidate_KplContainers_AllocatesZeroBytes()
    {
        long arrival = 1_737_367_200_000;
        var records = new List<TestRecord>();
        for (int i = 0; i < 20; i++)
        {
            KplTestUserRecord[] users = [.. Enumerable.Range(0, 5).Select(u => new KplTestUserRecord(
                "pk-" + u, null, Encoding.UTF8.GetBytes(TestEvents.Sample("m" + u, u, arrival - 1000, ("k", "v" + i))), []))];
            records.Add(new TestRecord(TestEvents.Seq(i), KplTestEncoder.Aggregate(users), arrival));
        }

        byte[] json = TestEvents.Build(records);
        var validator = new RecordValidator();
        Assert.Equal(100, ReadAll(json, validator));

        int samples = 0;
        long allocated = AllocationMeasure.Least(() => samples = ReadAll(json, validator));

        Assert.Equal(100, samples);
        Assert.Equal(0, allocated);
    }
}
