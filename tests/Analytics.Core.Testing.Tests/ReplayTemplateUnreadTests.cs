using System.Text.Json;
using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What a template says about the mapping or the function that replay does not read is refused, naming it (found by
/// review): a mapping written as an <c>AWS::Lambda::EventSourceMapping</c> resource, beside the function's Kinesis event
/// or instead of it, and a function under a <c>Condition</c>, were read past without a word, so the run used settings
/// the template does not deploy.
/// </summary>
public class ReplayTemplateUnreadTests
{
    private static readonly string s_template = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);

    private const string Mapping = """
          Extra:
            Type: AWS::Lambda::EventSourceMapping
            Properties:
              FunctionName:
                Ref: MetricsFunction
              EventSourceArn:
                Ref: KinesisStreamArn
              StartingPosition: LATEST
              BatchSize: 10000
              ParallelizationFactor: 1

        """;

    private static string WithMapping(string template) => template.Replace("Resources:\n", "Resources:\n" + Mapping, StringComparison.Ordinal);

    /// <summary>The sample's template without its function's Events, the last of its properties.</summary>
    private static string WithoutKinesisEvent()
    {
        int events = s_template.IndexOf("      Events:\n", StringComparison.Ordinal);
        int next = s_template.IndexOf("\n  MetricsFunctionRole:", StringComparison.Ordinal);
        Assert.True(events > 0 && next > events);
        return s_template[..events] + s_template[next..].TrimStart('\n');
    }

    [Fact]
    public void AMappingResourceBesideTheKinesisEvent_IsRefused_NamingIt()
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(WithMapping(s_template), "t.yaml"));

        Assert.Equal("$.template", error.Field);
        Assert.StartsWith("t.yaml: Resources.Extra.Type: an AWS::Lambda::EventSourceMapping of its own, which replay does not read: it reads the mapping only from the function's Events of Type Kinesis", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AMappingResourceInsteadOfTheKinesisEvent_IsRefused_NamingIt()
    {
        string template = WithMapping(WithoutKinesisEvent());
        Assert.DoesNotContain("Type: Kinesis", template, StringComparison.Ordinal);

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(template, "t.yaml"));

        Assert.StartsWith("t.yaml: Resources.Extra.Type: an AWS::Lambda::EventSourceMapping of its own", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A mapping of another function of the template (a queue's consumer beside the stream's) is not the Kinesis
    /// function's: such a template ran before the mapping resources were refused, and runs with the function's own
    /// mapping. The reference may be long or short form.
    /// </summary>
    [Theory]
    [InlineData("FunctionName:\n        Ref: RedriveFunction")]
    [InlineData("FunctionName: !Ref RedriveFunction")]
    [InlineData("FunctionName:\n        Fn::GetAtt: [RedriveFunction, Arn]")]
    [InlineData("FunctionName: !GetAtt RedriveFunction.Arn")]
    public void AMappingResourceOfAnotherFunction_IsLeftAlone(string functionName)
    {
        string other = $"""
              RedriveQueue:
                Type: AWS::SQS::Queue

              RedriveFunction:
                Type: AWS::Serverless::Function
                Properties:
                  Handler: bootstrap
                  Runtime: provided.al2023
                  CodeUri: ./redrive

              RedriveFromQueue:
                Type: AWS::Lambda::EventSourceMapping
                Properties:
                  {functionName}
                  EventSourceArn:
                    Fn::GetAtt: [RedriveQueue, Arn]
                  BatchSize: 10


            """;

        TemplateSettings read = SamTemplate.Parse(s_template.Replace("Resources:\n", "Resources:\n" + other, StringComparison.Ordinal), "t.yaml");

        Assert.Equal(JsonSerializer.Serialize(SamTemplate.Parse(s_template, "t.yaml")), JsonSerializer.Serialize(read));
    }

    /// <summary>A mapping of an alias of the Kinesis function is that function's: still refused.</summary>
    [Fact]
    public void AMappingResourceOfAnAliasOfTheKinesisFunction_IsRefused()
    {
        const string Alias = """
              LiveAlias:
                Type: AWS::Lambda::Alias
                Properties:
                  FunctionName: !Ref MetricsFunction
                  FunctionVersion: "1"
                  Name: live

              AliasMapping:
                Type: AWS::Lambda::EventSourceMapping
                Properties:
                  FunctionName: !Ref LiveAlias
                  EventSourceArn: !Ref KinesisStreamArn


            """;

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(s_template.Replace("Resources:\n", "Resources:\n" + Alias, StringComparison.Ordinal), "t.yaml"));

        Assert.StartsWith("t.yaml: Resources.AliasMapping.Type: an AWS::Lambda::EventSourceMapping of its own", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AFunctionUnderACondition_IsRefused_NamingIt()
    {
        string template = s_template.Replace("    Type: AWS::Serverless::Function\n", "    Type: AWS::Serverless::Function\n    Condition: IsProd\n", StringComparison.Ordinal);
        Assert.NotEqual(s_template, template);

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(template, "t.yaml"));

        Assert.StartsWith("t.yaml: Resources.MetricsFunction.Condition: the function is created only when the condition 'IsProd' holds, which replay cannot decide", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>Through the command: exit 2 and one line.</summary>
    [Fact]
    public void AMappingResource_Exits2_WithOneLine()
    {
        string directory = Directory.CreateTempSubdirectory("replay-template-unread-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "template.yaml"), WithMapping(s_template));
            string scenario = Path.Combine(directory, "s.json");
            File.WriteAllText(scenario, """{"template":"template.yaml","durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"sample"}}""");

            (int exit, string stdout, string stderr) = ReplayHarness.Replay("--scenario", scenario, "--out", Path.Combine(directory, "out"));

            Assert.Equal(2, exit);
            Assert.Equal(string.Empty, stdout);
            Assert.Single(stderr.TrimEnd('\n').Split('\n'));
            Assert.Contains("Resources.Extra.Type: an AWS::Lambda::EventSourceMapping of its own", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
