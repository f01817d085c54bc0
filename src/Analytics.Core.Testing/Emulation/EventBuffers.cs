using System.Numerics;
using System.Runtime.InteropServices;

namespace Analytics.Core.Testing;

/// <summary>
/// The arrays events are built in, reused once an invocation has succeeded (<see cref="ILambdaHandler"/>: the event
/// bytes are valid until the handler's task completes).
/// </summary>
/// <remarks>
/// An event of a full batch is hundreds of kilobytes: a fresh array each time lands on the large object heap, and the
/// GC hands that memory back to the system between collections, so every event paid page faults for all its pages
/// (about 3 ms for 640 KB here, four times the cost of writing it). Arrays are kept per power-of-two size, up to
/// <see cref="MaxPooledBytes"/> and <see cref="MaxPerSize"/> of each size; only the emulator's thread uses them.
/// </remarks>
internal sealed class EventBuffers
{
    /// <summary>The largest array kept: above the 6 MB payload limit, so every event Lambda could send is pooled.</summary>
    public const int MaxPooledBytes = 8 * 1024 * 1024;

    /// <summary>Arrays kept per size (enough for every shard and lane of a run to have one in flight).</summary>
    public const int MaxPerSize = 64;

    private const int MinPooledBytes = 4096;
    private readonly Stack<byte[]>?[] _free = new Stack<byte[]>?[BitOperations.Log2(MaxPooledBytes) + 1];

    /// <summary>An array of at least <paramref name="size"/> bytes; its content is not cleared.</summary>
    public byte[] Rent(int size)
    {
        if (size > MaxPooledBytes)
        {
            return GC.AllocateUninitializedArray<byte>(size);
        }

        int length = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(size, MinPooledBytes));
        return _free[BitOperations.Log2((uint)length)] is { Count: > 0 } free ? free.Pop() : GC.AllocateUninitializedArray<byte>(length);
    }

    /// <summary>Gives back the array under <paramref name="utf8Event"/> (one from <see cref="Rent"/>; others are left to the GC).</summary>
    public void Return(ReadOnlyMemory<byte> utf8Event)
    {
        if (!MemoryMarshal.TryGetArray(utf8Event, out ArraySegment<byte> segment) || segment.Array is not { } array
            || array.Length < MinPooledBytes || array.Length > MaxPooledBytes || !BitOperations.IsPow2(array.Length))
        {
            return;
        }

        Stack<byte[]> free = _free[BitOperations.Log2((uint)array.Length)] ??= new Stack<byte[]>();
        if (free.Count < MaxPerSize)
        {
            free.Push(array);
        }
    }
}
