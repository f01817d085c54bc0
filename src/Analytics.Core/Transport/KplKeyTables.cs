namespace Analytics.Core;

/// <summary>
/// Where each entry of a KPL container's partition key table and explicit hash key table lies in its protobuf
/// bytes, so a <see cref="KplRecordReader"/> resolves a key index in O(1) instead of rescanning the message.
/// </summary>
/// <remarks>
/// One instance per thread, reused by every container read on that thread, so steady-state reading allocates
/// nothing. Each <see cref="KplAggregate.TryRead"/> bumps <see cref="Generation"/> before it refills the
/// tables; a reader that sees another generation than its own (a second container was opened on the same
/// thread while it was still in use) falls back to scanning its own bytes, which is slower but still correct.
/// </remarks>
internal sealed class KplKeyTables
{
    [ThreadStatic]
    private static KplKeyTables? s_current;

    // Pairs of (start, length) relative to the protobuf message.
    private int[] _partitionKeys = new int[64];
    private int[] _hashKeys = new int[16];

    private KplKeyTables()
    {
    }

    /// <summary>Bumped whenever the tables are refilled.</summary>
    public int Generation { get; private set; }

    public int PartitionKeyCount { get; private set; }

    public int HashKeyCount { get; private set; }

    /// <summary>The tables of the current thread.</summary>
    public static KplKeyTables ForCurrentThread() => s_current ??= new KplKeyTables();

    /// <summary>Empties the tables under a new generation, which invalidates readers of the previous content.</summary>
    public int Reset()
    {
        PartitionKeyCount = 0;
        HashKeyCount = 0;
        return unchecked(++Generation);
    }

    public void AddPartitionKey(int start, int length)
    {
        Append(ref _partitionKeys, PartitionKeyCount, start, length);
        PartitionKeyCount++;
    }

    public void AddHashKey(int start, int length)
    {
        Append(ref _hashKeys, HashKeyCount, start, length);
        HashKeyCount++;
    }

    /// <summary>Reads partition key entry <paramref name="index"/> (which must be in range).</summary>
    public void GetPartitionKey(int index, out int start, out int length)
    {
        CoreAssert.True((uint)index < (uint)PartitionKeyCount, "partition key index in range");
        start = _partitionKeys[2 * index];
        length = _partitionKeys[(2 * index) + 1];
    }

    /// <summary>Reads explicit hash key entry <paramref name="index"/> (which must be in range).</summary>
    public void GetHashKey(int index, out int start, out int length)
    {
        CoreAssert.True((uint)index < (uint)HashKeyCount, "hash key index in range");
        start = _hashKeys[2 * index];
        length = _hashKeys[(2 * index) + 1];
    }

    private static void Append(ref int[] table, int count, int start, int length)
    {
        int slot = 2 * count;
        if (slot + 1 >= table.Length)
        {
            // Grows only while warming up to the largest table seen on this thread.
            Array.Resize(ref table, table.Length * 2);
        }

        table[slot] = start;
        table[slot + 1] = length;
    }
}
