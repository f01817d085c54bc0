using Analytics.SampleLambda;

namespace Analytics.Core.Tests;

/// <summary>
/// The sample's environment variables set to nothing but white space (found by review). Read as unset, a blank table or
/// quarantine bucket sent aggregates or poison records to files in /tmp, lost with the Lambda sandbox, while every
/// invocation answered success; a blank spill bucket turned spilling off. Each is now an init error naming it.
/// </summary>
public class SampleSettingsTests
{
    [Theory]
    [InlineData(SampleSettings.AggregateTableVariable, "   ")]
    [InlineData(SampleSettings.AggregateTableVariable, "")]
    [InlineData(SampleSettings.QuarantineBucketVariable, " ")]
    [InlineData(SampleSettings.SpillBucketVariable, "\t")]
    [InlineData(SampleSettings.WindowSecondsVariable, "   ")]
    [InlineData(SampleSettings.SpillAfterSecondsVariable, "\t")]
    [InlineData(SampleSettings.OutputDirectoryVariable, "   ")]
    public void ABlankVariable_IsAnInitErrorNamingIt(string name, string value)
    {
        var env = new Dictionary<string, string> { [name] = value };
        if (name == SampleSettings.SpillBucketVariable)
        {
            env[SampleSettings.AggregateTableVariable] = "aggregates";
        }

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => SampleSettings.FromEnvironment(env.GetValueOrDefault));

        Assert.StartsWith(name + " is set but empty", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SampleSettings.AggregateTableVariable, "ab")]
    [InlineData(SampleSettings.QuarantineBucketVariable, "s3://poison/records")]
    [InlineData(SampleSettings.SpillBucketVariable, "my spill bucket")]
    public void ANameNeitherServiceTakes_IsAnInitErrorNamingTheVariable_NotTheLibrarysOption(string name, string value)
    {
        // Found by review: the init error named DynamoDbAggregateSinkOptions.TableName or S3QuarantineSinkOptions.BucketName,
        // which the operator never set.
        // Under Lambda AWS_REGION is always set; the SDK's clients read it from the process, before any name is checked.
        // us-east-1 is what the sample's local clients default to, so no other test sees a change.
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AWS_REGION")))
        {
            Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        }

        var env = new Dictionary<string, string> { [name] = value };
        if (name == SampleSettings.SpillBucketVariable)
        {
            env[SampleSettings.AggregateTableVariable] = "aggregates";
        }

        SinkTargetException e = Assert.Throws<SinkTargetException>(() => FunctionHandler.FromEnvironment(env.GetValueOrDefault, TextWriter.Null));

        Assert.StartsWith($"{name} '{value}' is not ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SinkOptions", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsetVariables_TakeTheLocalDefaults()
    {
        SampleSettings settings = SampleSettings.FromEnvironment(_ => null);

        Assert.Equal((SampleSettings.DefaultOutputDirectory, TimeSpan.FromSeconds(60), null, null, null), (settings.OutputDirectory, settings.WindowSize, settings.AggregateTable, settings.QuarantineBucket, settings.SpillBucket));
    }
}
