namespace Analytics.Core.Testing;

/// <summary>
/// FNV-1a (64 bits) over a canonical form of strings and attribute values (maps by ordinal name order): a request's
/// identity for the fault plan (<see cref="DynamoRequestView.Identity"/>). A map is 2, its count, then per name in
/// ordinal order the name and the value; a value is 16 plus its <see cref="DynamoType"/>, then its text (strings and
/// numbers), length and bytes (binaries), flag (booleans and nulls), map, or count and members (lists and sets).
/// <see cref="StoredItem.AddIdentity"/> adds the same bytes from an encoded item.
/// </summary>
internal struct IdentityHash
{
    // FNV-1a over the request's bytes, one at a time.
    private const ulong Offset = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;
    private ulong _value;
    private bool _started;

    public readonly ulong Value => _started ? _value : Offset;

    public void Add(string? text)
    {
        if (text is null)
        {
            AddByte(0);
            return;
        }

        AddByte(1);
        AddInt(text.Length);
        Start();
        ulong value = _value;
        foreach (char c in text)
        {
            value = (value ^ (byte)c) * Prime;
            value = (value ^ (byte)(c >> 8)) * Prime;
        }

        _value = value;
    }

    public void Add(IReadOnlyDictionary<string, DynamoValue>? item)
    {
        if (item is null)
        {
            AddByte(0);
            return;
        }

        if (item is StoredItem stored)
        {
            // The same bytes, read from the encoding instead of a tree of values.
            stored.AddIdentity(ref this);
            return;
        }

        AddByte(2);
        AddInt(item.Count);
        foreach (string key in OrdinalKeys.Of(item))
        {
            Add(key);
            Add(item[key]);
        }
    }

    private void Add(DynamoValue value)
    {
        AddByte((byte)(16 + (int)value.Type));
        switch (value.Type)
        {
            case DynamoType.S or DynamoType.N:
                Add(value.Text);
                break;
            case DynamoType.B:
                AddBytes(value.Bytes);
                break;
            case DynamoType.BOOL or DynamoType.NULL:
                AddByte(value.Bool ? (byte)1 : (byte)0);
                break;
            case DynamoType.M:
                Add(value.Map);
                break;
            case DynamoType.L:
                AddInt(value.List!.Count);
                foreach (DynamoValue v in value.List)
                {
                    Add(v);
                }

                break;
            default:
                AddInt(value.Set!.Count);
                foreach (DynamoValue v in value.Set)
                {
                    Add(v);
                }

                break;
        }
    }

    /// <summary>A binary value: its length, then its bytes.</summary>
    public void AddBytes(ReadOnlySpan<byte> bytes)
    {
        AddInt(bytes.Length);
        Start();
        ulong hash = _value;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * Prime;
        }

        _value = hash;
    }

    public void AddInt(int n)
    {
        for (int i = 0; i < 4; i++)
        {
            AddByte((byte)(n >> (8 * i)));
        }
    }

    public void AddByte(byte b)
    {
        Start();
        _value = (_value ^ b) * Prime;
    }

    private void Start()
    {
        if (!_started)
        {
            _value = Offset;
            _started = true;
        }
    }
}
