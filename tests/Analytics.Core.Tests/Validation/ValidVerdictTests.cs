namespace Analytics.Core.Tests.Validation;

/// <summary>A valid record's verdict: no reason, an empty detail (as <see cref="RecordVerdict.Detail"/> promises), its samples counted.</summary>
public class ValidVerdictTests
{
    [Fact]
    public void Validate_ValidRecords_HaveAnEmptyDetail()
    {
        var validator = new RecordValidator();
        string one = TestEvents.Sample("http.duration", 12.5, TestEvents.Arrival, ("service", "checkout"));
        string two = one + "\n" + TestEvents.Sample("http.duration", 13, TestEvents.Arrival);

        var reader = new KinesisEventReader(TestEvents.Single(TestEvents.Utf8(one), TestEvents.Arrival));
        Assert.True(reader.Read());
        RecordVerdict fromEvent = validator.Validate(reader.Current);
        Assert.True(fromEvent.IsValid);
        Assert.Equal(string.Empty, fromEvent.Detail);
        Assert.Equal(1, fromEvent.SampleCount);

        RecordVerdict fromData = validator.ValidateData(TestEvents.Utf8(two), TestEvents.Arrival);
        Assert.True(fromData.IsValid);
        Assert.Equal(string.Empty, fromData.Detail);
        Assert.Equal(2, fromData.SampleCount);
    }
}
