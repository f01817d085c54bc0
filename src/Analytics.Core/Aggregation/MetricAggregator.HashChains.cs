namespace Analytics.Core;

internal sealed partial class MetricAggregator
{
    /// <summary>
    /// An open hash index over entries numbered 0, 1, 2, … in insertion order (the aggregator's series and its pairs):
    /// one chain per bucket, newest entry first. The entries themselves live in the owner's arrays; this keeps only
    /// their hashes and the chains.
    /// </summary>
    /// <remarks>
    /// Buckets hold an entry's index + 1 (0: empty), as does each entry's link to the next one in its chain. The
    /// table doubles when an entry is added at its capacity and relinks the entries in insertion order, so the newest
    /// entry of a chain stays its head: <see cref="RemoveNewest"/> relies on that.
    /// </remarks>
    private struct HashChains
    {
        private int[] _buckets;
        private int[] _next;
        private int[] _hashes;

        public HashChains(int capacity)
        {
            _buckets = new int[capacity];
            _next = new int[capacity];
            _hashes = new int[capacity];
        }

        /// <summary>The first entry of the chain <paramref name="hash"/> falls in; -1 when it is empty.</summary>
        public readonly int First(int hash) => _buckets[hash & (_buckets.Length - 1)] - 1;

        /// <summary>The entry after <paramref name="entry"/> in its chain; -1 at the end.</summary>
        public readonly int Next(int entry) => _next[entry] - 1;

        /// <summary>The hash <paramref name="entry"/> was added with.</summary>
        public readonly int HashOf(int entry) => _hashes[entry];

        /// <summary>Links entry <paramref name="entry"/> (the number of entries so far) at the head of its chain.</summary>
        public void Add(int entry, int hash)
        {
            if (entry == _next.Length)
            {
                Grow(entry);
            }

            ref int head = ref _buckets[hash & (_buckets.Length - 1)];
            _hashes[entry] = hash;
            _next[entry] = head;
            head = entry + 1;
        }

        /// <summary>Unlinks <paramref name="entry"/>, the newest entry still in the index.</summary>
        public readonly void RemoveNewest(int entry)
        {
            ref int head = ref _buckets[_hashes[entry] & (_buckets.Length - 1)];
            CoreAssert.True(head == entry + 1, "the newest entry heads its chain");
            head = _next[entry];
        }

        /// <summary>Empties the index, keeping its storage.</summary>
        public readonly void Clear() => Array.Clear(_buckets);

        private void Grow(int count)
        {
            Array.Resize(ref _next, count * 2);
            Array.Resize(ref _hashes, count * 2);
            _buckets = new int[count * 2];
            for (int i = 0; i < count; i++)
            {
                ref int head = ref _buckets[_hashes[i] & (_buckets.Length - 1)];
                _next[i] = head;
                head = i + 1;
            }
        }
    }
}
