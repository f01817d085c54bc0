using System.Net;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.DynamoDBv2.Model.Internal.MarshallTransformations;
using Amazon.Runtime;

namespace Analytics.Core.Testing;

/// <summary>
/// The DynamoDB model's client: an <see cref="AmazonDynamoDBClient"/> whose item operations (GetItem, PutItem,
/// UpdateItem, DeleteItem, BatchGetItem) hand the request object to the model and return the SDK's response object,
/// without the SDK's client pipeline (endpoint, signing, an HTTP request, unmarshalling) or JSON: the model reads the
/// request's values from the object (<see cref="SdkRequestView"/>) and decides its faults from those values, as the HTTP
/// path does from the parsed body, so both paths give the same latencies, throttles and outcomes for a seed. A request
/// shape that view does not mirror (legacy parameters, an attribute value with no or several types set, ...) is
/// marshalled by the SDK's own marshaller and read from that JSON. Every other operation goes through the base client's
/// pipeline to the model's HTTP handler, without the SDK's metrics and tracing handler (<see cref="ModelSdkClients"/>).
/// </summary>
internal sealed class DynamoDbModelClient(DynamoDbModel model, AWSCredentials credentials, AmazonDynamoDBConfig config)
    : ModelDynamoDbClient(credentials, config)
{
    public override Task<GetItemResponse> GetItemAsync(GetItemRequest request, CancellationToken cancellationToken = default) =>
        model.ServeDirectAsync("GetItem", model.MarshalItemRequests ? null : SdkRequestView.From(request), request, static r => GetItemRequestMarshaller.Instance.Marshall(r), DynamoDbModel.DirectGetItem, cancellationToken);

    public override Task<PutItemResponse> PutItemAsync(PutItemRequest request, CancellationToken cancellationToken = default) =>
        model.ServeDirectAsync("PutItem", model.MarshalItemRequests ? null : SdkRequestView.From(request), request, static r => PutItemRequestMarshaller.Instance.Marshall(r), DynamoDbModel.DirectPutItem, cancellationToken);

    public override Task<UpdateItemResponse> UpdateItemAsync(UpdateItemRequest request, CancellationToken cancellationToken = default) =>
        model.ServeDirectAsync("UpdateItem", model.MarshalItemRequests ? null : SdkRequestView.From(request), request, static r => UpdateItemRequestMarshaller.Instance.Marshall(r), DynamoDbModel.DirectUpdateItem, cancellationToken);

    public override Task<DeleteItemResponse> DeleteItemAsync(DeleteItemRequest request, CancellationToken cancellationToken = default) =>
        model.ServeDirectAsync("DeleteItem", model.MarshalItemRequests ? null : SdkRequestView.From(request), request, static r => DeleteItemRequestMarshaller.Instance.Marshall(r), DynamoDbModel.DirectDeleteItem, cancellationToken);

    public override Task<BatchGetItemResponse> BatchGetItemAsync(BatchGetItemRequest request, CancellationToken cancellationToken = default) =>
        model.ServeDirectAsync("BatchGetItem", model.MarshalItemRequests ? null : SdkRequestView.From(request), request, static r => BatchGetItemRequestMarshaller.Instance.Marshall(r), DynamoDbModel.DirectBatchGetItem, cancellationToken);

    /// <summary>For tests: whether a request would be read from its object (true) or from its marshalled JSON (false).</summary>
    internal static bool ReadsDirectly(AmazonWebServiceRequest request) => request switch
    {
        GetItemRequest r => SdkRequestView.From(r) is not null,
        PutItemRequest r => SdkRequestView.From(r) is not null,
        UpdateItemRequest r => SdkRequestView.From(r) is not null,
        DeleteItemRequest r => SdkRequestView.From(r) is not null,
        BatchGetItemRequest r => SdkRequestView.From(r) is not null,
        _ => false,
    };
}

/// <summary>The SDK exception a model error becomes, as the SDK's error unmarshalling raises it from the model's HTTP answer.</summary>
internal static class DynamoSdkErrors
{
    public static AmazonDynamoDBException ToException(DynamoError error, string requestId)
    {
        var status = (HttpStatusCode)error.Status;
        ErrorType type = ErrorType.Unknown; // what the SDK sets for JSON-protocol errors
        string code = error.Code;
        return code switch
        {
            "ConditionalCheckFailedException" => new ConditionalCheckFailedException(error.Message, null, type, code, requestId, status),
            "ProvisionedThroughputExceededException" => new ProvisionedThroughputExceededException(error.Message, null, type, code, requestId, status),
            "ResourceNotFoundException" => new ResourceNotFoundException(error.Message, null, type, code, requestId, status),
            "ResourceInUseException" => new ResourceInUseException(error.Message, null, type, code, requestId, status),
            "InternalServerError" => new InternalServerErrorException(error.Message, null, type, code, requestId, status),
            _ => new AmazonDynamoDBException(error.Message, null, type, code, requestId, status),
        };
    }
}
