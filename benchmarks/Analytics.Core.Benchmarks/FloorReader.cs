using System.Buffers.Text;
using System.Text.Json;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// The least work that touches every byte: Utf8JsonReader through the envelope, Base64.DecodeFromUtf8 of every
/// data field into one reused buffer, Utf8JsonReader through every payload. Nothing is validated or kept.
/// </summary>
public sealed class FloorReader
{
    private static readonly JsonReaderOptions s_payload = new() { AllowMultipleValues = true };
    private byte[] _buffer = new byte[4096];

    /// <summary>Returns the number of payload tokens, so nothing can be optimized away.</summary>
    public int Read(ReadOnlySpan<byte> utf8Event)
    {
        int tokens = 0;
        var reader = new Utf8JsonReader(utf8Event);
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || !reader.ValueTextEquals("data"u8))
            {
                continue;
            }

            reader.Read();
            ReadOnlySpan<byte> base64 = reader.ValueSpan;
            if (_buffer.Length < Base64.GetMaxDecodedFromUtf8Length(base64.Length))
            {
                _buffer = new byte[Base64.GetMaxDecodedFromUtf8Length(base64.Length) * 2];
            }

            Base64.DecodeFromUtf8(base64, _buffer, out _, out int written);
            var payload = new Utf8JsonReader(_buffer.AsSpan(0, written), s_payload);
            while (payload.Read())
            {
                tokens++;
            }
        }

        return tokens;
    }
}
