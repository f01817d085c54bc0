using System.Net;
using System.Reflection;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The models' SDK clients run the SDK's own pipeline but for its metrics and tracing handler, which formats the stack
/// trace of every failed call: compared handler by handler with a plain SDK client of the same configuration.
/// </summary>
public sealed class ModelSdkPipelineTests
{
    private static readonly PropertyInfo s_pipeline = typeof(AmazonServiceClient).GetProperty("RuntimePipeline", BindingFlags.Instance | BindingFlags.NonPublic)!;

    [Fact]
    public void EveryModelClient_HasThePlainClientsPipeline_WithoutTheMetricsHandler()
    {
        using var dynamoDb = new DynamoDbModel(new FakeTimeProvider(), DynamoDbModelOptions.Default);
        using var s3 = new S3Model(new FakeTimeProvider(), S3ModelOptions.Default);
        using AmazonDynamoDBClient direct = dynamoDb.CreateClient(), http = dynamoDb.CreateHttpClient();
        using AmazonS3Client s3Client = s3.CreateClient();
        using var plainDynamoDb = new AmazonDynamoDBClient(new AnonymousAWSCredentials(), (AmazonDynamoDBConfig)http.Config);
        using var plainS3 = new AmazonS3Client(new AnonymousAWSCredentials(), (AmazonS3Config)s3Client.Config);

        foreach ((AmazonServiceClient model, AmazonServiceClient plain) in new (AmazonServiceClient, AmazonServiceClient)[] { (direct, plainDynamoDb), (http, plainDynamoDb), (s3Client, plainS3) })
        {
            List<Type> plainHandlers = Handlers(plain);
            Assert.Contains(typeof(MetricsHandler), plainHandlers); // what is taken out is there to begin with
            Assert.Equal(plainHandlers.Where(t => t != typeof(MetricsHandler)), Handlers(model));
        }
    }

    [Fact]
    public async Task AFailedCall_RaisesWhatThePlainClientRaises()
    {
        using var s3 = new S3Model(new FakeTimeProvider(), S3ModelOptions.Default);
        s3.CreateBucket("bucket");
        using AmazonS3Client client = s3.CreateClient();
        using var plain = new AmazonS3Client(new AnonymousAWSCredentials(), (AmazonS3Config)client.Config);
        var request = new GetObjectRequest { BucketName = "bucket", Key = "missing" };

        AmazonS3Exception viaModel = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync(request));
        AmazonS3Exception viaPlain = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => plain.GetObjectAsync(request));

        Assert.Equal(HttpStatusCode.NotFound, viaModel.StatusCode);
        Assert.Equal(
            (viaPlain.GetType(), viaPlain.StatusCode, viaPlain.ErrorCode, viaPlain.ErrorType, viaPlain.Message),
            (viaModel.GetType(), viaModel.StatusCode, viaModel.ErrorCode, viaModel.ErrorType, viaModel.Message));
    }

    private static List<Type> Handlers(AmazonServiceClient client) =>
        [.. ((RuntimePipeline)s_pipeline.GetValue(client)!).Handlers.Select(h => h.GetType())];
}
