using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// Tokenizing the payloads of 100 benchmark records (150 to 300 bytes of metric JSON each, the first JSON value of
/// each): the record parser's own <see cref="JsonTokenizer"/> against <see cref="Utf8JsonReader"/>, on valid payloads
/// and on the same payloads broken in the middle (<c>"value":tru</c>), where Utf8JsonReader can only throw.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private byte[][] _payloads = [];

    [Params("Valid", "InvalidJson")]
    public string Payloads { get; set; } = "Valid";

    [GlobalSetup]
    public void Setup()
    {
        List<byte[]> records = BenchmarkData.Records(100, out _);
        _payloads = [.. records.Select(r => Payloads == "Valid" ? r : Break(r))];
        if (Utf8JsonReader() != JsonTokenizer())
        {
            throw new InvalidOperationException("The tokenizers disagree on the token counts.");
        }
    }

    private static byte[] Break(byte[] record)
    {
        string text = Encoding.UTF8.GetString(record);
        int value = text.IndexOf("\"value\":", StringComparison.Ordinal) + 8;
        int end = text.IndexOf(',', value);
        return Encoding.UTF8.GetBytes(text[..value] + "tru" + text[end..]);
    }

    /// <summary>Tokens read over all payloads; a syntax error counts as -1000 (caught as an exception).</summary>
    [Benchmark(Baseline = true)]
    public int Utf8JsonReader()
    {
        int tokens = 0;
        foreach (byte[] payload in _payloads)
        {
            var reader = new Utf8JsonReader(payload);
            try
            {
                do
                {
                    reader.Read();
                    tokens++;
                }
                while (reader.CurrentDepth > 0 || reader.TokenType == JsonTokenType.StartObject);
            }
            catch (JsonException)
            {
                tokens -= 1000;
            }
        }

        return tokens;
    }

    /// <summary>Tokens read over all payloads; a syntax error counts as -1000 (a result).</summary>
    [Benchmark]
    public int JsonTokenizer()
    {
        int tokens = 0;
        foreach (byte[] payload in _payloads)
        {
            var reader = new JsonTokenizer(payload, 0);
            while (true)
            {
                if (!reader.Read())
                {
                    tokens -= 1000;
                    break;
                }

                tokens++;
                if (reader.CurrentDepth == 0 && reader.TokenType != JsonToken.StartObject)
                {
                    break;
                }
            }
        }

        return tokens;
    }
}
