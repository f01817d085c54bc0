namespace Analytics.Core;

internal sealed partial class MetricAggregator
{
    /// <summary>Removes the pairs created after <see cref="PairCount"/> was <paramref name="pairCount"/>, and the series only they used.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pairCount"/> is not 0 to <see cref="PairCount"/>.</exception>
    internal void RollbackTo(int pairCount)
    {
        if ((uint)pairCount > (uint)_pairCount)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(pairCount), "The mark must be 0 to PairCount.");
        }

        // Pairs are removed newest first, so each one removed (and the series it created) is the newest in its index.
        for (int p = _pairCount - 1; p >= pairCount; p--)
        {
            ref readonly PairEntry e = ref _pairs[p];
            _pairIndex.RemoveNewest(p);
            if (e.CreatedSeries)
            {
                int s = _seriesCount - 1;
                CoreAssert.True(e.Series == s, "the newest pair that created a series created the newest series");
                _seriesIndex.RemoveNewest(s);
                _arenaUsed = _series[s].Offset;
                _seriesCount = s;
            }
        }

        _pairCount = pairCount;
    }

    private static int HashKey(ReadOnlySpan<byte> key)
    {
        var hash = default(HashCode);
        hash.AddBytes(key);
        return hash.ToHashCode();
    }

    private static int HashPair(int series, long windowStart) => HashCode.Combine(series, windowStart);

    private bool GetOrAddPair(ReadOnlySpan<byte> seriesKey, long windowStart, bool enforceCap, out int pair)
    {
        int seriesHash = HashKey(seriesKey);
        int series = FindSeries(seriesKey, seriesHash);
        int pairHash = 0;
        if (series >= 0)
        {
            pairHash = HashPair(series, windowStart);
            for (int i = _pairIndex.First(pairHash); i >= 0; i = _pairIndex.Next(i))
            {
                ref readonly PairEntry e = ref _pairs[i];
                if (e.Series == series && e.WindowStart == windowStart)
                {
                    pair = i;
                    return true;
                }
            }
        }

        if (enforceCap && _pairCount >= _options.MaxPairs)
        {
            pair = -1;
            return false;
        }

        bool createdSeries = false;
        if (series < 0)
        {
            series = AddSeries(seriesKey, seriesHash);
            pairHash = HashPair(series, windowStart);
            createdSeries = true;
        }

        pair = AddPair(series, windowStart, pairHash, createdSeries);
        return true;
    }

    private int FindSeries(ReadOnlySpan<byte> key, int hash)
    {
        for (int i = _seriesIndex.First(hash); i >= 0; i = _seriesIndex.Next(i))
        {
            ref readonly SeriesEntry e = ref _series[i];
            if (_seriesIndex.HashOf(i) == hash && _arena.AsSpan(e.Offset, e.Length).SequenceEqual(key))
            {
                return i;
            }
        }

        return -1;
    }

    private int AddSeries(ReadOnlySpan<byte> key, int hash)
    {
        if (_arena.Length - _arenaUsed < key.Length)
        {
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + key.Length));
        }

        key.CopyTo(_arena.AsSpan(_arenaUsed));
        if (_seriesCount == _series.Length)
        {
            Array.Resize(ref _series, _series.Length * 2);
        }

        int index = _seriesCount++;
        _series[index] = new SeriesEntry { Offset = _arenaUsed, Length = key.Length };
        _seriesIndex.Add(index, hash);
        _arenaUsed += key.Length;
        return index;
    }

    private int AddPair(int series, long windowStart, int hash, bool createdSeries)
    {
        if (_pairCount == _pairs.Length)
        {
            Array.Resize(ref _pairs, _pairs.Length * 2);
        }

        if (_pairCount == _aggregates.Length)
        {
            Array.Resize(ref _aggregates, _pairs.Length);
        }

        int index = _pairCount++;
        _pairs[index] = new PairEntry { WindowStart = windowStart, Series = series, CreatedSeries = createdSeries };
        _pairIndex.Add(index, hash);

        MetricAggregate? aggregate = _aggregates[index];
        if (aggregate is null)
        {
            _aggregates[index] = new MetricAggregate(_mapping);
        }
        else
        {
            aggregate.Clear();
        }

        return index;
    }

    /// <summary>A series key's place in the arena.</summary>
    private struct SeriesEntry
    {
        public int Offset;
        public int Length;
    }

    /// <summary>A (series, window) pair; <see cref="CreatedSeries"/> when the pair added its series (a rollback removes both).</summary>
    private struct PairEntry
    {
        public long WindowStart;
        public int Series;
        public bool CreatedSeries;
    }
}
