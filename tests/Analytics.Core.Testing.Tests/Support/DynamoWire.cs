using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// One raw DynamoDB JSON request, as the SDK would send it, to the local server or to the model's handler: what the
/// cross-checks compare.
/// </summary>
internal static class DynamoWire
{
    /// <summary>
    /// Sends the request; the answer's status, and either its error (type after '#', then the message) or its body.
    /// Error messages are compared by kind only where the two are known to word them apart: a syntax error's details (the
    /// local server's parser generator's words), a number or a base64 text that does not read (the model has DynamoDB's
    /// words, the server its own).
    /// </summary>
    public static async Task<(int Status, string? Error, JsonNode? Body)> SendAsync(HttpMessageInvoker http, Uri url, string operation, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.0");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "DynamoDB_20120810." + operation);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", "20250101T000000Z");
        request.Headers.TryAddWithoutValidation("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00");
        using HttpResponseMessage response = await http.SendAsync(request, CancellationToken.None);
        string text = await response.Content.ReadAsStringAsync();
        JsonNode? answer = text.Length == 0 ? null : JsonNode.Parse(text);
        if (answer is not JsonObject error || error["__type"] is not JsonNode type)
        {
            return ((int)response.StatusCode, null, answer);
        }

        string name = type.GetValue<string>();
        string message = (error["message"] ?? error["Message"])?.GetValue<string>() ?? string.Empty;
        int syntax = message.IndexOf("Syntax error;", StringComparison.Ordinal);
        message = syntax < 0 ? message : message[..(syntax + "Syntax error;".Length)];
        if (message.StartsWith("The parameter cannot be converted to a numeric value", StringComparison.Ordinal)
            || message.StartsWith("A value provided cannot be converted into a number", StringComparison.Ordinal))
        {
            message = "(not a number)";
        }

        if (name.EndsWith("SerializationException", StringComparison.Ordinal))
        {
            message = "(not readable)";
        }

        return ((int)response.StatusCode, name[(name.IndexOf('#', StringComparison.Ordinal) + 1)..] + " " + message, null);
    }
}
