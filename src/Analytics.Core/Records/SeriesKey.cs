using System.Buffers.Binary;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// The canonical identity of a metric series: its metric name and its dimension set, unescaped and with the
/// dimensions sorted by key, encoded in a compact byte form. Two samples whose names or dimensions differ only in
/// JSON escaping or in dimension order have byte-identical keys. Nothing else is folded: text that differs in Unicode
/// normalization (precomposed <c>é</c> against <c>e</c> and a combining accent) or in case is another series.
/// </summary>
/// <remarks>
/// <para>Layout: <c>u8 dimensionCount, u8 metricLength, metric, then per dimension (ordinal order of key bytes)
/// u8 keyLength, key, u16 little-endian valueLength, value</c>. All text is UTF-8.</para>
/// <para>A <see cref="SeriesKey"/> is a view over bytes it does not own; it is valid as long as they are.</para>
/// </remarks>
public readonly ref struct SeriesKey
{
    /// <summary>The longest metric name, in UTF-8 bytes.</summary>
    internal const int MaxMetricBytes = 255;

    /// <summary>The most dimensions a sample may carry (the CloudWatch limit).</summary>
    internal const int MaxDimensions = 30;

    /// <summary>The longest dimension key, in UTF-8 bytes.</summary>
    internal const int MaxDimensionKeyBytes = 255;

    /// <summary>The longest dimension value, in UTF-8 bytes.</summary>
    internal const int MaxDimensionValueBytes = 1024;

    /// <summary>The largest encoded key, in bytes; a buffer of this size holds any valid key.</summary>
    internal const int MaxEncodedBytes = 2 + MaxMetricBytes + (MaxDimensions * (1 + MaxDimensionKeyBytes + 2 + MaxDimensionValueBytes));

    private readonly ReadOnlySpan<byte> _encoded;

    private SeriesKey(ReadOnlySpan<byte> encoded) => _encoded = encoded;

    /// <summary>The encoded bytes of the key.</summary>
    public ReadOnlySpan<byte> Encoded => _encoded;

    /// <summary>The metric name, UTF-8.</summary>
    public ReadOnlySpan<byte> Metric => _encoded.Slice(2, _encoded[1]);

    /// <summary>The number of dimensions.</summary>
    public int DimensionCount => _encoded[0];

    /// <summary>Wraps bytes that hold an encoded key, checking their structure.</summary>
    /// <param name="encoded">The encoded key.</param>
    /// <param name="key">The key, when the bytes are well formed.</param>
    /// <returns><see langword="true"/> when <paramref name="encoded"/> is exactly one well-formed key.</returns>
    public static bool TryCreate(ReadOnlySpan<byte> encoded, out SeriesKey key)
    {
        key = default;
        if (encoded.Length < 2 || encoded[0] > MaxDimensions)
        {
            return false;
        }

        int pos = 2 + encoded[1];
        for (int i = 0; i < encoded[0]; i++)
        {
            if (pos >= encoded.Length)
            {
                return false;
            }

            pos += 1 + encoded[pos];
            if (pos + 2 > encoded.Length)
            {
                return false;
            }

            int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(encoded.Slice(pos));
            pos += 2 + valueLength;
        }

        if (pos != encoded.Length)
        {
            return false;
        }

        key = new SeriesKey(encoded);
        return true;
    }

    /// <summary>Wraps bytes known to hold an encoded key (produced by this library).</summary>
    internal static SeriesKey FromTrusted(ReadOnlySpan<byte> encoded) => new(encoded);

    /// <summary>The dimensions in key order: <c>foreach (var (key, value) in seriesKey.Dimensions)</c>.</summary>
    public DimensionEnumerator Dimensions => new(_encoded);

    /// <summary>The metric name as a string (allocates).</summary>
    /// <returns>The metric name.</returns>
    public string GetMetricString() => Encoding.UTF8.GetString(Metric);

    /// <summary>Encodes a key from an unescaped metric name and dimension pairs that are already sorted by key.</summary>
    /// <param name="metric">The metric name, UTF-8, at most <see cref="MaxMetricBytes"/> bytes.</param>
    /// <param name="dimensionCount">How many dimensions follow.</param>
    /// <param name="destination">Where to write the key.</param>
    /// <returns>The number of bytes written.</returns>
    /// <remarks>Used by tests and tools; the record parser builds keys in place.</remarks>
    internal static int WriteHeader(ReadOnlySpan<byte> metric, int dimensionCount, Span<byte> destination)
    {
        destination[0] = (byte)dimensionCount;
        destination[1] = (byte)metric.Length;
        metric.CopyTo(destination.Slice(2));
        return 2 + metric.Length;
    }

    internal static int WriteDimension(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        destination[0] = (byte)key.Length;
        key.CopyTo(destination.Slice(1));
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(1 + key.Length), (ushort)value.Length);
        value.CopyTo(destination.Slice(3 + key.Length));
        return 3 + key.Length + value.Length;
    }

    /// <summary>Encodes a key from a metric name and dimensions in any order (sorts them; allocates; for tests and tools).</summary>
    /// <param name="metric">The metric name.</param>
    /// <param name="dimensions">The dimensions; keys must be distinct.</param>
    /// <returns>The encoded key.</returns>
    /// <exception cref="ArgumentException">A name or dimension breaks the limits, or a key repeats.</exception>
    internal static byte[] Encode(string metric, IEnumerable<KeyValuePair<string, string>>? dimensions = null)
    {
        ArgumentNullException.ThrowIfNull(metric);
        byte[] metricBytes = Encoding.UTF8.GetBytes(metric);
        if (metricBytes.Length is 0 or > MaxMetricBytes)
        {
            ThrowHelper.ThrowArgument(nameof(metric), "The metric name must be 1 to 255 UTF-8 bytes.");
        }

        var dims = new List<(byte[] Key, byte[] Value)>();
        foreach (KeyValuePair<string, string> d in dimensions ?? [])
        {
            byte[] k = Encoding.UTF8.GetBytes(d.Key);
            byte[] v = Encoding.UTF8.GetBytes(d.Value);
            if (k.Length > MaxDimensionKeyBytes || v.Length > MaxDimensionValueBytes)
            {
                ThrowHelper.ThrowArgument(nameof(dimensions), "A dimension key or value is too long.");
            }

            dims.Add((k, v));
        }

        if (dims.Count > MaxDimensions)
        {
            ThrowHelper.ThrowArgument(nameof(dimensions), "Too many dimensions.");
        }

        dims.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        for (int i = 1; i < dims.Count; i++)
        {
            if (dims[i].Key.AsSpan().SequenceEqual(dims[i - 1].Key))
            {
                ThrowHelper.ThrowArgument(nameof(dimensions), "A dimension key repeats.");
            }
        }

        int size = 2 + metricBytes.Length;
        foreach ((byte[] k, byte[] v) in dims)
        {
            size += 3 + k.Length + v.Length;
        }

        byte[] result = new byte[size];
        int pos = WriteHeader(metricBytes, dims.Count, result);
        foreach ((byte[] k, byte[] v) in dims)
        {
            pos += WriteDimension(k, v, result.AsSpan(pos));
        }

        return result;
    }

    /// <summary>One dimension of a <see cref="SeriesKey"/>: its key and value, UTF-8 views into the key's bytes.</summary>
    public readonly ref struct Dimension
    {
        internal Dimension(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            Key = key;
            Value = value;
        }

        /// <summary>The dimension key, UTF-8, unescaped.</summary>
        public ReadOnlySpan<byte> Key { get; }

        /// <summary>The dimension value, UTF-8, unescaped.</summary>
        public ReadOnlySpan<byte> Value { get; }

        /// <summary>Deconstructs the dimension, for <c>foreach (var (key, value) in seriesKey.Dimensions)</c>.</summary>
        /// <param name="key">The dimension key.</param>
        /// <param name="value">The dimension value.</param>
        public void Deconstruct(out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
        {
            key = Key;
            value = Value;
        }
    }

    /// <summary>
    /// The dimensions of a <see cref="SeriesKey"/> in key order, for <c>foreach</c>; allocates nothing. Like
    /// <see cref="SeriesKey"/> it is a view over the key's bytes.
    /// </summary>
    public ref struct DimensionEnumerator
    {
        private readonly ReadOnlySpan<byte> _encoded;
        private int _next;
        private int _remaining;

        internal DimensionEnumerator(ReadOnlySpan<byte> encoded)
        {
            _encoded = encoded;
            _remaining = encoded.IsEmpty ? 0 : encoded[0];
            _next = encoded.IsEmpty ? 0 : 2 + encoded[1];
            Current = default;
        }

        /// <summary>The dimension at the enumerator's position.</summary>
        public Dimension Current { get; private set; }

        /// <summary>Returns the enumerator itself, so that <c>foreach</c> can walk it.</summary>
        /// <returns>This enumerator.</returns>
        public readonly DimensionEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next dimension.</summary>
        /// <returns><see langword="false"/> after the last one.</returns>
        public bool MoveNext()
        {
            if (_remaining == 0)
            {
                return false;
            }

            _remaining--;
            int keyLength = _encoded[_next];
            ReadOnlySpan<byte> key = _encoded.Slice(_next + 1, keyLength);
            int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(_encoded.Slice(_next + 1 + keyLength));
            Current = new Dimension(key, _encoded.Slice(_next + 3 + keyLength, valueLength));
            _next += 3 + keyLength + valueLength;
            return true;
        }
    }
}
