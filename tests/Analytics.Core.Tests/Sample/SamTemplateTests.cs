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
        // S3: the destination keeps the batch's payload (SQS would get shard id and sequence range only).
        Assert.Equal("S3", Scalar(Stream, "DestinationConfig", "OnFailure", "Type"));
        Assert.Equal("FailedBatchBucket", GetAttTarget(At(Stream, "DestinationConfig", "OnFailure", "Destination")));
    }

    [Fact]
    public void FailedBatchBucket_IsEncryptedPrivate_ExpiresLambdasObjectsAfterFourteenDays_AndCountsThem()
    {
        YamlMappingNode bucket = Resource("FailedBatchBucket");
        Assert.Equal("AWS::S3::Bucket", Scalar(bucket, "Type"));
        AssertPrivateAndEncrypted(bucket);
        YamlNode rule = Assert.Single(((YamlSequenceNode)At(bucket, "Properties", "LifecycleConfiguration", "Rules")).Children);
        Assert.Equal("aws/lambda/", Scalar(rule, "Prefix"));
        Assert.Equal("FailedBatchRetentionDays", RefName(At(rule, "ExpirationInDays")));
        Assert.Equal("14", Scalar(s_root, "Parameters", "FailedBatchRetentionDays", "Default"));
        YamlNode metrics = Assert.Single(((YamlSequenceNode)At(bucket, "Properties", "MetricsConfigurations")).Children);
        Assert.Equal("aws/lambda/", Scalar(metrics, "Prefix"));
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
        YamlMappingNode bucket = Resource("QuarantineBucket");
        AssertPrivateAndEncrypted(bucket);
        YamlNode rule = Assert.Single(((YamlSequenceNode)At(bucket, "Properties", "LifecycleConfiguration", "Rules")).Children);
        Assert.Equal("Enabled", Scalar(rule, "Status"));
        Assert.Equal("QuarantineRetentionDays", RefName(At(rule, "ExpirationInDays")));
    }

    private static void AssertPrivateAndEncrypted(YamlMappingNode bucket)
    {
        YamlNode encryption = ((YamlSequenceNode)At(bucket, "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration")).Children[0];
        Assert.Contains(Scalar(encryption, "ServerSideEncryptionByDefault", "SSEAlgorithm"), new[] { "AES256", "aws:kms" });
        foreach (string setting in new[] { "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets" })
        {
            Assert.Equal("true", Scalar(bucket, "Properties", "PublicAccessBlockConfiguration", setting));
        }
    }

    /// <summary>
    /// The function runs with the template's own role (found by review): with a role SAM generates, a Kinesis event adds
    /// AWSLambdaKinesisExecutionRole (read any stream, Resource "*") and an S3 on-failure destination a PutObject on the
    /// whole bucket, so the grants narrowed nothing. The role has CloudWatch Logs and the statements below, nothing else.
    /// </summary>
    [Fact]
    public void Function_RunsWithTheTemplatesOwnRole_SoSamAddsNoPolicy()
    {
        Assert.Equal("MetricsFunctionRole", GetAttTarget(At(Function, "Properties", "Role")));
        Assert.False(((YamlMappingNode)At(Function, "Properties")).Children.ContainsKey(new YamlScalarNode("Policies")));
        YamlMappingNode role = Resource("MetricsFunctionRole");
        Assert.Equal("AWS::IAM::Role", Scalar(role, "Type"));
        Assert.Equal("lambda.amazonaws.com", Scalar(((YamlSequenceNode)At(role, "Properties", "AssumeRolePolicyDocument", "Statement")).Children[0], "Principal", "Service"));
        Assert.Equal(
            ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            ((YamlSequenceNode)At(role, "Properties", "ManagedPolicyArns")).Children.Select(c => Scalar(c, "Fn::Sub")));
        Assert.Single(((YamlSequenceNode)At(role, "Properties", "Policies")).Children);
    }

    /// <summary>The table and the buckets hold data no other copy has: kept when the stack is deleted or they are replaced.</summary>
    [Theory]
    [InlineData("AggregateTable")]
    [InlineData("QuarantineBucket")]
    [InlineData("FailedBatchBucket")]
    public void DataResources_AreRetained(string name) =>
        Assert.Equal(("Retain", "Retain"), (Scalar(Resource(name), "DeletionPolicy"), Scalar(Resource(name), "UpdateReplacePolicy")));

    [Fact]
    public void Policies_GrantOnlyWhatTheFunctionNeedsOnItsOwnResources()
    {
        var statements = ((YamlSequenceNode)At(((YamlSequenceNode)At(Resource("MetricsFunctionRole"), "Properties", "Policies")).Children[0], "PolicyDocument", "Statement")).Children;
        Assert.All(statements, s => Assert.Equal("Allow", Scalar(s, "Effect")));
        var byService = statements.GroupBy(s => Sequence(s, "Action")[0].Split(':')[0]).ToDictionary(g => g.Key, g => g.First());
        Assert.Equal(["dynamodb", "kinesis", "s3"], byService.Keys.Order());

        Assert.All(statements.SelectMany(s => Sequence(s, "Action")), a => Assert.DoesNotContain("*", a));
        Assert.Equal("KinesisStreamArn", RefName(At(byService["kinesis"], "Resource")));
        Assert.Subset(new HashSet<string> { "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard" }, Sequence(byService["kinesis"], "Action").ToHashSet());

        // The only grant on every resource: listing stream names, which has no resource-level permission.
        YamlNode everywhere = Assert.Single(statements, s => At(s, "Resource") is YamlScalarNode { Value: "*" });
        Assert.Equal(["kinesis:ListStreams"], Sequence(everywhere, "Action"));

        // DynamoDB: exactly the calls the sinks make (read from their source, so a new call without its grant fails here).
        string sinks = Path.Combine(RepoPaths.Root, "src", "Analytics.Core.Aws", "Sinks");
        string[] calls = [.. Directory.GetFiles(sinks, "DynamoDbAggregateSink*.cs")
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), @"_client\.(\w+)Async\(").Select(m => "dynamodb:" + m.Groups[1].Value))
            .Distinct().Order()];
        Assert.Equal(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"], calls);
        Assert.Equal(calls, Sequence(byService["dynamodb"], "Action").Order());
        Assert.Equal("AWS::DynamoDB::Table", Scalar(Resource(GetAttTarget(At(byService["dynamodb"], "Resource"))), "Type"));

        // S3: PutObject under quarantine/ of its bucket; PutObject and DeleteObject under spill/ (a retry removes an
        // unconfirmed spill) and GetObject there (each write reads its shard's spill marker), with ListBucket on that
        // bucket (without it S3 answers a missing marker with 403, which the spill could not tell from a denial); for the
        // on-failure destination (written with the function's role), PutObject under aws/lambda/ and ListBucket on the
        // destination bucket. Nothing else.
        var s3 = statements.Where(s => Sequence(s, "Action")[0].StartsWith("s3:", StringComparison.Ordinal))
            .Select(s => (Action: string.Join(",", Sequence(s, "Action")), Resource: At(s, "Resource") is YamlMappingNode r && r.Children.ContainsKey(new YamlScalarNode("Fn::Sub")) ? Scalar(r, "Fn::Sub") : "arn:" + GetAttTarget(At(s, "Resource"))))
            .Order().ToArray();
        Assert.Equal(
            [("s3:ListBucket", "arn:FailedBatchBucket"), ("s3:ListBucket", "arn:QuarantineBucket"), ("s3:PutObject", "${FailedBatchBucket.Arn}/aws/lambda/*"), ("s3:PutObject", "${QuarantineBucket.Arn}/quarantine/*"), ("s3:PutObject,s3:DeleteObject,s3:GetObject", "${QuarantineBucket.Arn}/spill/*")],
            s3);
    }

    [Fact]
    public void Environment_NamesTheTableAndTheBucket()
    {
        YamlNode variables = At(Function, "Properties", "Environment", "Variables");
        Assert.Equal("AWS::DynamoDB::Table", Scalar(Resource(RefName(At(variables, SampleLambda.SampleSettings.AggregateTableVariable))), "Type"));
        Assert.Equal("AWS::S3::Bucket", Scalar(Resource(RefName(At(variables, SampleLambda.SampleSettings.QuarantineBucketVariable))), "Type"));

        // Spilling on: into the quarantine bucket, whose spill/ prefix the policy opens, after a parseable age.
        Assert.Equal(RefName(At(variables, SampleLambda.SampleSettings.QuarantineBucketVariable)), RefName(At(variables, SampleLambda.SampleSettings.SpillBucketVariable)));
        Assert.InRange(int.Parse(Scalar(variables, SampleLambda.SampleSettings.SpillAfterSecondsVariable), System.Globalization.CultureInfo.InvariantCulture), 1, 900);
    }

    [Fact]
    public void Alarms_WatchIteratorAge_DestinationDeliveries_AndSpills()
    {
        var alarms = ((YamlMappingNode)At(s_root, "Resources")).Children.Values.Cast<YamlMappingNode>()
            .Where(r => Scalar(r, "Type") == "AWS::CloudWatch::Alarm")
            .ToDictionary(
                a => ((YamlMappingNode)At(a, "Properties")).Children.ContainsKey(new YamlScalarNode("MetricName")) ? Scalar(a, "Properties", "MetricName") : "expression",
                a => (YamlMappingNode)At(a, "Properties"));

        YamlMappingNode age = alarms["IteratorAge"];
        Assert.Equal("AWS/Lambda", Scalar(age, "Namespace"));
        Assert.Equal("Maximum", Scalar(age, "Statistic"));
        Assert.Equal("60000", Scalar(age, "Threshold"));
        Assert.Equal("GreaterThanThreshold", Scalar(age, "ComparisonOperator"));
        Assert.Equal(300, int.Parse(Scalar(age, "Period")) * int.Parse(Scalar(age, "EvaluationPeriods")));
        YamlNode ageDimension = Assert.Single(((YamlSequenceNode)At(age, "Dimensions")).Children);
        Assert.Equal("AWS::Serverless::Function", Scalar(Resource(RefName(At(ageDimension, "Value"))), "Type"));

        // Every object Lambda writes to the destination bucket (a batch given up) fires it: request metrics of aws/lambda/.
        YamlMappingNode deliveries = alarms["PutRequests"];
        Assert.Equal("AWS/S3", Scalar(deliveries, "Namespace"));
        Assert.Equal(("0", "GreaterThanThreshold", "Sum"), (Scalar(deliveries, "Threshold"), Scalar(deliveries, "ComparisonOperator"), Scalar(deliveries, "Statistic")));
        var dimensions = ((YamlSequenceNode)At(deliveries, "Dimensions")).Children.ToDictionary(d => Scalar(d, "Name"), d => At(d, "Value"));
        Assert.Equal("FailedBatchBucket", RefName(dimensions["BucketName"]));
        Assert.Equal("OnFailureDestination", ((YamlScalarNode)dimensions["FilterId"]).Value);
        Assert.Equal("OnFailureDestination", Scalar(((YamlSequenceNode)At(Resource("FailedBatchBucket"), "Properties", "MetricsConfigurations")).Children[0], "Id"));

        YamlMappingNode failures = alarms["DestinationDeliveryFailures"];
        Assert.Equal(("AWS/Lambda", "0", "GreaterThanThreshold"), (Scalar(failures, "Namespace"), Scalar(failures, "Threshold"), Scalar(failures, "ComparisonOperator")));

        // Spills: the EMF metric SpilledRecords, per shard, summed over the function's shards by Metrics Insights.
        YamlMappingNode spills = alarms["expression"];
        string query = Scalar(Assert.Single(((YamlSequenceNode)At(spills, "Metrics")).Children), "Expression", "Fn::Sub");
        Assert.Equal("SELECT SUM(SpilledRecords) FROM SCHEMA(\"Analytics.Core\", FunctionName, ShardId) WHERE FunctionName = '${MetricsFunction}'", query);
        Assert.Equal(("0", "GreaterThanThreshold"), (Scalar(spills, "Threshold"), Scalar(spills, "ComparisonOperator")));
    }

    [Fact]
    public void Template_UsesNoShortFormIntrinsics()
    {
        string text = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml"));
        Assert.DoesNotMatch(@"!(Ref|GetAtt|Sub|Join|If|Select|Split|FindInMap|Equals|Not|And|Or|ImportValue|Base64|GetAZs|Cidr)\b", text);
    }
}
