using YamlDotNet.RepresentationModel;

namespace Analytics.Core.Tests.Sample;

/// <summary>The SAM template of the sample, read with a plain YAML parser, holds the settings the README promises.</summary>
public class SamTemplateTests
{
    private static readonly YamlMappingNode s_root = Load();

    private static YamlMappingNode Load()
    {
        var yaml = new YamlStream();
        using var reader = new StreamReader(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml"));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (string key in path)
        {
            node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        }

        return node;
    }

    private static string Scalar(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static YamlMappingNode Resource(string name) => (YamlMappingNode)At(s_root, "Resources", name);

    private static YamlMappingNode ResourceOfType(string type) =>
        Assert.Single(((YamlMappingNode)At(s_root, "Resources")).Children.Values.Cast<YamlMappingNode>(), r => Scalar(r, "Type") == type);

    private static YamlMappingNode Function => ResourceOfType("AWS::Serverless::Function");

    private static YamlMappingNode Stream => (YamlMappingNode)At(Function, "Properties", "Events", "Stream", "Properties");

    private static string[] Sequence(YamlNode node, params string[] path) =>
        [.. ((YamlSequenceNode)At(node, path)).Children.Select(c => ((YamlScalarNode)c).Value!)];

    private static string RefName(YamlNode node) => Scalar(node, "Ref");

    private static string GetAttTarget(YamlNode node) => ((YamlScalarNode)((YamlSequenceNode)At(node, "Fn::GetAtt")).Children[0]).Value!;

    [Fact]
    public void Function_IsNativeAotOnTheOsOnlyRuntime()
    {
        Assert.Equal("provided.al2023", Scalar(Function, "Properties", "Runtime"));
        Assert.Equal(["x86_64"], Sequence(Function, "Properties", "Architectures"));
        Assert.Equal("bootstrap", Scalar(Function, "Properties", "Handler"));
        Assert.Equal("120", Scalar(Function, "Properties", "Timeout"));
        Assert.Equal("1024", Scalar(Function, "Properties", "MemorySize"));
        Assert.Equal("makefile", Scalar(Function, "Metadata", "BuildMethod"));
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "Makefile")));
    }

    [Fact]
    public void Function_TimeoutMatchesTheInvokeCommandDefault()
    {
        Assert.Equal(SampleLambda.InvokeCommand.DefaultTimeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(Function, "Properties", "Timeout"));
    }

    [Fact]
    public void EventSourceMapping_HasTheThreeLayersOfDefenceAndTenConcurrentBatchesPerShard()
    {
        Assert.Equal("Kinesis", Scalar(Function, "Properties", "Events", "Stream", "Type"));
        Assert.Equal("KinesisStreamArn", RefName(At(Stream, "Stream")));
        Assert.Equal("100", Scalar(Stream, "BatchSize"));
        Assert.Equal("5", Scalar(Stream, "MaximumBatchingWindowInSeconds"));
        Assert.Equal("true", Scalar(Stream, "BisectBatchOnFunctionError"));
        Assert.Equal("3", Scalar(Stream, "MaximumRetryAttempts"));
        Assert.Equal(["ReportBatchItemFailures"], Sequence(Stream, "FunctionResponseTypes"));
        Assert.Equal("LATEST", Scalar(Stream, "StartingPosition"));
        Assert.Equal("10", Scalar(Stream, "ParallelizationFactor"));
        string dlq = GetAttTarget(At(Stream, "DestinationConfig", "OnFailure", "Destination"));
        Assert.Equal("AWS::SQS::Queue", Scalar(Resource(dlq), "Type"));
    }

    [Fact]
    public void Dlq_KeepsMessagesFourteenDays()
    {
        YamlMappingNode queue = ResourceOfType("AWS::SQS::Queue");
        Assert.Equal((14 * 24 * 3600).ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(queue, "Properties", "MessageRetentionPeriod"));
    }

    [Fact]
    public void Table_IsOnDemandWithStringPkAndSk()
    {
        YamlMappingNode table = ResourceOfType("AWS::DynamoDB::Table");
        Assert.Equal("PAY_PER_REQUEST", Scalar(table, "Properties", "BillingMode"));
        var attributes = ((YamlSequenceNode)At(table, "Properties", "AttributeDefinitions")).Children
            .ToDictionary(a => Scalar(a, "AttributeName"), a => Scalar(a, "AttributeType"));
        Assert.Equal(new Dictionary<string, string> { ["pk"] = "S", ["sk"] = "S" }, attributes);
        var keys = ((YamlSequenceNode)At(table, "Properties", "KeySchema")).Children.Select(k => (Scalar(k, "AttributeName"), Scalar(k, "KeyType")));
        Assert.Equal([("pk", "HASH"), ("sk", "RANGE")], keys);
    }

    [Fact]
    public void QuarantineBucket_IsEncryptedPrivateAndExpires()
    {
        YamlMappingNode bucket = ResourceOfType("AWS::S3::Bucket");
        YamlNode encryption = ((YamlSequenceNode)At(bucket, "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration")).Children[0];
        Assert.Contains(Scalar(encryption, "ServerSideEncryptionByDefault", "SSEAlgorithm"), new[] { "AES256", "aws:kms" });
        foreach (string setting in new[] { "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets" })
        {
            Assert.Equal("true", Scalar(bucket, "Properties", "PublicAccessBlockConfiguration", setting));
        }

        YamlNode rule = Assert.Single(((YamlSequenceNode)At(bucket, "Properties", "LifecycleConfiguration", "Rules")).Children);
        Assert.Equal("Enabled", Scalar(rule, "Status"));
        Assert.Equal("QuarantineRetentionDays", RefName(At(rule, "ExpirationInDays")));
    }

    [Fact]
    public void Policies_GrantOnlyWhatTheFunctionNeedsOnItsOwnResources()
    {
        var statements = ((YamlSequenceNode)At(((YamlSequenceNode)At(Function, "Properties", "Policies")).Children[0], "Statement")).Children;
        Assert.All(statements, s => Assert.Equal("Allow", Scalar(s, "Effect")));
        var byService = statements.ToDictionary(s => Sequence(s, "Action")[0].Split(':')[0]);
        Assert.Equal(["dynamodb", "kinesis", "s3", "sqs"], byService.Keys.Order());

        Assert.All(byService.Values.SelectMany(s => Sequence(s, "Action")), a => Assert.DoesNotContain("*", a));
        Assert.Equal("KinesisStreamArn", RefName(At(byService["kinesis"], "Resource")));
        Assert.Subset(new HashSet<string> { "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard" }, Sequence(byService["kinesis"], "Action").ToHashSet());
        Assert.Equal(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            Sequence(byService["dynamodb"], "Action").Order());
        Assert.Equal("AWS::DynamoDB::Table", Scalar(Resource(GetAttTarget(At(byService["dynamodb"], "Resource"))), "Type"));
        Assert.Equal(["s3:PutObject"], Sequence(byService["s3"], "Action"));
        Assert.Equal("${QuarantineBucket.Arn}/quarantine/*", Scalar(byService["s3"], "Resource", "Fn::Sub"));
        Assert.Equal(["sqs:SendMessage"], Sequence(byService["sqs"], "Action"));
        Assert.Equal("AWS::SQS::Queue", Scalar(Resource(GetAttTarget(At(byService["sqs"], "Resource"))), "Type"));
    }

    [Fact]
    public void Environment_NamesTheTableAndTheBucket()
    {
        YamlNode variables = At(Function, "Properties", "Environment", "Variables");
        Assert.Equal("AWS::DynamoDB::Table", Scalar(Resource(RefName(At(variables, SampleLambda.SampleSettings.AggregateTableVariable))), "Type"));
        Assert.Equal("AWS::S3::Bucket", Scalar(Resource(RefName(At(variables, SampleLambda.SampleSettings.QuarantineBucketVariable))), "Type"));
    }

    [Fact]
    public void Alarms_WatchIteratorAgeAndDlqDepth()
    {
        var alarms = ((YamlMappingNode)At(s_root, "Resources")).Children.Values.Cast<YamlMappingNode>()
            .Where(r => Scalar(r, "Type") == "AWS::CloudWatch::Alarm")
            .ToDictionary(a => Scalar(a, "Properties", "MetricName"), a => (YamlMappingNode)At(a, "Properties"));

        YamlMappingNode age = alarms["IteratorAge"];
        Assert.Equal("AWS/Lambda", Scalar(age, "Namespace"));
        Assert.Equal("Maximum", Scalar(age, "Statistic"));
        Assert.Equal("60000", Scalar(age, "Threshold"));
        Assert.Equal("GreaterThanThreshold", Scalar(age, "ComparisonOperator"));
        Assert.Equal(300, int.Parse(Scalar(age, "Period")) * int.Parse(Scalar(age, "EvaluationPeriods")));
        YamlNode ageDimension = Assert.Single(((YamlSequenceNode)At(age, "Dimensions")).Children);
        Assert.Equal("AWS::Serverless::Function", Scalar(Resource(RefName(At(ageDimension, "Value"))), "Type"));

        YamlMappingNode dlq = alarms["ApproximateNumberOfMessagesVisible"];
        Assert.Equal("AWS/SQS", Scalar(dlq, "Namespace"));
        Assert.Equal("100", Scalar(dlq, "Threshold"));
        Assert.Equal("GreaterThanThreshold", Scalar(dlq, "ComparisonOperator"));
        YamlNode queueDimension = Assert.Single(((YamlSequenceNode)At(dlq, "Dimensions")).Children);
        Assert.Equal("AWS::SQS::Queue", Scalar(Resource(GetAttTarget(At(queueDimension, "Value"))), "Type"));
    }

    [Fact]
    public void Template_UsesNoShortFormIntrinsics()
    {
        string text = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml"));
        Assert.DoesNotMatch(@"!(Ref|GetAtt|Sub|Join|If|Select|Split|FindInMap|Equals|Not|And|Or|ImportValue|Base64|GetAZs|Cidr)\b", text);
    }
}
