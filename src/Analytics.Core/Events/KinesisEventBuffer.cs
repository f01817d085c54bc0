using System.Buffers;
using System.IO.Pipelines;

namespace Analytics.Core;

/// <summary>
/// A pooled, contiguous, reusable buffer that holds one event's bytes, filled from a <see cref="Stream"/> (through
/// System.IO.Pipelines) or a <see cref="ReadOnlySequence{T}"/>, so that <see cref="KinesisEventReader"/> can read
/// it as one span.
/// </summary>
/// <remarks>
/// Reuse one instance across invocations: its array is rented from <see cref="ArrayPool{T}.Shared"/>, grows to
/// the largest event seen (Lambda caps events at 6 MB) and is returned on <see cref="Dispose"/>. Not thread-safe.
/// </remarks>
public sealed class KinesisEventBuffer : IDisposable
{
    private byte[] _array = [];
    private int _length;

    /// <summary>The bytes of the last event loaded; valid until the next load.</summary>
    public ReadOnlyMemory<byte> Memory => _array.AsMemory(0, _length);

    /// <summary>The length of the rented array; 0 when none is held.</summary>
    internal int Capacity => _array.Length;

    /// <summary>Replaces the content with the bytes of <paramref name="stream"/>, read to its end.</summary>
    /// <param name="stream">The event, UTF-8 JSON.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>A task that completes when the stream is read.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    public async ValueTask LoadAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _length = 0;
        PipeReader reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true, bufferSize: 64 * 1024));
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                Append(result.Buffer);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Replaces the content with a copy of <paramref name="utf8Event"/>.</summary>
    /// <param name="utf8Event">The event, possibly in several segments.</param>
    public void Load(ReadOnlySequence<byte> utf8Event)
    {
        _length = 0;
        Append(utf8Event);
    }

    /// <summary>Returns the array to the pool.</summary>
    public void Dispose()
    {
        if (_array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }

        _array = [];
        _length = 0;
    }

    private void Append(ReadOnlySequence<byte> data)
    {
        long needed = _length + data.Length;
        if (needed > Array.MaxLength)
        {
            ThrowHelper.ThrowInvalidOperation("The event is too large to buffer.");
        }

        if (needed > _array.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent((int)Math.Max(needed, Math.Min(2L * _array.Length, Array.MaxLength)));
            _array.AsSpan(0, _length).CopyTo(larger);
            if (_array.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_array);
            }

            _array = larger;
        }

        data.CopyTo(_array.AsSpan(_length));
        _length = (int)needed;
    }
}
