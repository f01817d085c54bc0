using System.Buffers;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Events;

public class KinesisEventBufferTests
{
    /// <summary>A stream that hands out at most one byte per read, as a slow network might.</summary>
    private sealed class OneByteStream(byte[] data) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 1));

        public override int Read(Span<byte> buffer) => base.Read(buffer.Slice(0, Math.Min(buffer.Length, 1)));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer.Slice(0, Math.Min(buffer.Length, 1)), cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, 1), cancellationToken);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }

    private static ReadOnlySequence<byte> Split(byte[] data, int[] cuts)
    {
        if (data.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        int[] points = [.. cuts.Select(c => (int)((uint)c % (uint)(data.Length + 1))).Append(0).Append(data.Length).Distinct().Order()];
        Segment first = new(data.AsMemory(points[0], points[1] - points[0]), null);
        Segment last = first;
        for (int i = 1; i < points.Length - 1; i++)
        {
            last = new Segment(data.AsMemory(points[i], points[i + 1] - points[i]), last);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    [Fact]
    public async Task LoadAsync_OneByteAtATime_HoldsTheWholeEvent()
    {
        byte[] evt = Validation.ReadParseValidateAllocationTests.HundredRecordEvent();
        using var buffer = new KinesisEventBuffer();
        await buffer.LoadAsync(new OneByteStream(evt));
        Assert.Equal(evt, buffer.Memory.ToArray());

        // Reused for a smaller event: only the new bytes.
        await buffer.LoadAsync(new MemoryStream(evt[..10]));
        Assert.Equal(evt[..10], buffer.Memory.ToArray());
    }

    [Fact]
    public void Load_AnySegmentation_HoldsTheSameBytes()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), ArbMap.Default.ArbFor<int[]>(), (data, cuts) =>
        {
            using var buffer = new KinesisEventBuffer();
            buffer.Load(Split(data, cuts));
            return buffer.Memory.Span.SequenceEqual(data);
        }).QuickCheckThrowOnFailure();
    }
}
