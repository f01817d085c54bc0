namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Settings a consumer can get wrong in code (found by review, each silently taken or a NullReferenceException before):
/// refused before the run with the setting named.
/// </summary>
public sealed class ScenarioValidationTests
{
    private static EmulatorScenario Valid => Emulate.Texts("one");

    public static TheoryData<string, Func<EmulatorScenario, EmulatorScenario>> Mistakes => new()
    {
        { "StartingPosition", s => s with { Mapping = new MappingOptions { StartingPosition = (StartingPosition)9 } } },
        { "KeyAssignment", s => s with { KeyAssignment = (KeyAssignment)5 } },
        { "StartingPositionTimestamp", s => s with { Mapping = new MappingOptions { StartingPosition = StartingPosition.TrimHorizon, StartingPositionTimestamp = Emulate.Start } } },
        { "StartingPositionTimestamp", s => s with { Mapping = new MappingOptions { StartingPosition = StartingPosition.Latest, StartingPositionTimestamp = Emulate.Start } } },
        { "RealTimeSettle", s => s with { RealTimeSettle = TimeSpan.FromSeconds(-1) } },
        { "RetryDelay", s => s with { RetryDelay = TimeSpan.FromMilliseconds(-1) } },
        { "RetryDelay", s => s with { RetryDelay = TimeSpan.FromHours(1) + TimeSpan.FromTicks(1) } },
        { "RedeliveryFraction", s => s with { RedeliveryFraction = -0.01 } },
        { "RedeliveryFraction", s => s with { RedeliveryFraction = 0.51 } },
        { "RedeliveryFraction", s => s with { RedeliveryFraction = double.NaN } },
        { "Stream", s => s with { Stream = null! } },
        { "Mapping", s => s with { Mapping = null! } },
        { "Function", s => s with { Function = null! } },
        { "Producers", s => s with { Producers = null! } },
        { "Producers", s => s with { Producers = [null!] } },
        { "Records", s => s with { Records = [null!] } },
        { "Schedule", s => s with { Producers = [new ProducerOptions { RatePerSecond = 1, Schedule = [new RateStep(-1, 5)] }] } },
        { "Schedule", s => s with { Producers = [new ProducerOptions { RatePerSecond = 1, Schedule = null! }] } },
        { "Schedule", s => s with { Producers = [new ProducerOptions { RatePerSecond = 1, Schedule = [new RateStep(50, 10), new RateStep(20, 5)] }] } },
        { "Schedule", s => s with { Producers = [new ProducerOptions { RatePerSecond = 1, Schedule = [new RateStep(20, 10), new RateStep(20, 5)] }] } },
    };

    /// <summary>A negative rate and a record past Kinesis's 1 MiB say what they were (found by a consumer's review: neither did).</summary>
    [Fact]
    public void ARateOrARecordOutOfRange_TheErrorGivesItsValue()
    {
        ArgumentOutOfRangeException rate = Assert.Throws<ArgumentOutOfRangeException>((Valid with { Producers = [new ProducerOptions { RatePerSecond = -5 }] }).Validate);
        Assert.Equal("RatePerSecond", rate.ParamName);
        Assert.Equal(-5.0, rate.ActualValue);
        Assert.StartsWith("A rate must be 0 or more records per second.", rate.Message, StringComparison.Ordinal);

        ArgumentException record = Assert.ThrowsAny<ArgumentException>((Valid with { Records = [new ExplicitRecord("k", new byte[2 << 20], 0)] }).Validate);
        Assert.Contains("must be at most 1 MiB (1,048,576 bytes); got 2,097,153.", record.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void AMistake_IsRefusedBeforeTheRun_NamingTheSetting(string setting, Func<EmulatorScenario, EmulatorScenario> mistake)
    {
        Valid.Validate(); // the scenario the mistake is made in is fine
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => mistake(Valid).Validate());
        Assert.Equal(setting, error.ParamName);
        Assert.ThrowsAny<ArgumentException>(() => new StreamEmulator(mistake(Valid), Emulate.Succeed()));
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void WithPoison_RefusesAFractionOutsideZeroToOne(double fraction)
    {
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => RecordGenerators.WithPoison(RecordGenerators.Metric(1), fraction));
        Assert.Equal("fraction", error.ParamName);
        _ = RecordGenerators.WithPoison(RecordGenerators.Metric(1), 1);
    }

    [Theory]
    [InlineData(double.NaN, 1, "p50Ms")]
    [InlineData(1, double.PositiveInfinity, "p99Ms")]
    [InlineData(1, 1e300, "p99Ms")]
    public void LatencyFromMilliseconds_NamesAPercentileThatIsNotAFiniteNumber(double p50, double p99, string name)
    {
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => LatencyDistribution.FromMilliseconds(p50, p99));
        Assert.Equal(name, error.ParamName);
        Assert.Equal(TimeSpan.FromMilliseconds(40), LatencyDistribution.FromMilliseconds(8, 40).P99);
    }
}
