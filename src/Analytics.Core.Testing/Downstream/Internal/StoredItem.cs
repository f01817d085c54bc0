using System.Buffers;
using System.Buffers.Binary;
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Testing;

/// <summary>
/// An item as the DynamoDB model keeps it: every attribute encoded in one array, read back on demand.
/// </summary>
/// <remarks>
/// <para>A table of object trees (a dictionary and a value object per attribute, per nested map) is what the garbage
/// collector traces and copies on every collection; an hour of stream writes millions of them. One array per item is a
/// single object to move and none to trace.</para>
/// <para>Reads see the same item as the tree did, each value equal to the one put
/// (<see cref="DynamoValue.Equals(DynamoValue?)"/>), with the size measured when it was put, and attribute names in
/// ordinal order at every level (the order the model's answers list them in). A value is decoded when it is asked
/// for, so a condition on one attribute decodes that attribute only.</para>
/// <para>Encoding: a map is its entry count, then per entry in ordinal order the name, the value's encoded length and
/// the value. A value is its <see cref="DynamoType"/> byte and its payload (strings and numbers' normalized texts as an
/// index into a side array of the strings as they were put: strings are immutable, so reads share them as the tree
/// did; binaries as their length and bytes; lists and sets as a count and their members).</para>
/// </remarks>
internal sealed class StoredItem : IReadOnlyDictionary<string, DynamoValue>
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_writer;

    [ThreadStatic]
    private static List<string>? s_strings;

    /// <summary>The largest encoding buffer a thread keeps between items (one for a 400 KB item grows past it, once).</summary>
    private const int MaxKeptWriterBytes = 1024 * 1024;

    private readonly byte[] _data;

    /// <summary>The item's strings (names, string and number values), shared with the item put: strings are immutable.</summary>
    private readonly string[] _strings;

    private StoredItem(byte[] data, string[] strings, int count, int size, int nestingLevels)
    {
        _data = data;
        _strings = strings;
        Count = count;
        Size = size;
        NestingLevels = nestingLevels;
    }


    /// <summary>The item's size as <see cref="DynamoValue.ItemSize"/> measured it when it was stored.</summary>
    public int Size { get; }

    /// <summary>The deepest attribute's levels (<see cref="DynamoValue.NestingLevels"/>).</summary>
    public int NestingLevels { get; }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public IEnumerable<string> Keys
    {
        get
        {
            // The names only: each value is stepped over by its length, not decoded.
            int at = 0;
            int count = ReadInt(_data, ref at);
            for (int i = 0; i < count; i++)
            {
                string name = _strings[ReadInt(_data, ref at)];
                int valueLength = ReadInt(_data, ref at);
                at += valueLength;
                yield return name;
            }
        }
    }

    /// <inheritdoc/>
    public IEnumerable<DynamoValue> Values
    {
        get
        {
            foreach (KeyValuePair<string, DynamoValue> entry in this)
            {
                yield return entry.Value;
            }
        }
    }

    /// <inheritdoc/>
    public DynamoValue this[string key] => TryGetValue(key, out DynamoValue? value) ? value : throw new KeyNotFoundException(key);

    /// <summary>Encodes <paramref name="item"/>; <paramref name="size"/> is its <see cref="DynamoValue.ItemSize"/>.</summary>
    public static StoredItem From(IReadOnlyDictionary<string, DynamoValue> item, int size)
    {
        if (item is StoredItem stored)
        {
            return stored;
        }

        (ArrayBufferWriter<byte> writer, List<string> strings) = Buffers();
        int levels = WriteMap(writer, strings, item);
        return Finish(writer, strings, item.Count, size, levels);
    }

    /// <summary>
    /// Encodes an item given in the SDK's types, as <see cref="From"/> encodes the same item read into values, with its
    /// size; false for a shape the model's reading of SDK objects does not mirror (a value with no type or several, a
    /// null false, a null member, an empty set or one with duplicates): that request takes the JSON path, which answers
    /// it as DynamoDB does.
    /// </summary>
    /// <exception cref="DynamoError">A number DynamoDB refuses.</exception>
    public static bool TryFromSdk(Dictionary<string, AttributeValue> item, [NotNullWhen(true)] out StoredItem? stored)
    {
        (ArrayBufferWriter<byte> writer, List<string> strings) = Buffers();
        if (!TryWriteSdkMap(writer, strings, item, 0, out int size, out int levels))
        {
            Finish(writer, strings, 0, 0, 0);
            stored = null;
            return false;
        }

        stored = Finish(writer, strings, item.Count, size, levels);
        return true;
    }

    /// <summary>The thread's encoding buffers, emptied.</summary>
    private static (ArrayBufferWriter<byte> Writer, List<string> Strings) Buffers()
    {
        ArrayBufferWriter<byte> writer = s_writer ??= new ArrayBufferWriter<byte>(4096);
        List<string> strings = s_strings ??= [];
        writer.ResetWrittenCount();
        strings.Clear();
        return (writer, strings);
    }

    /// <summary>The item encoded in the buffers; a buffer grown past <see cref="MaxKeptWriterBytes"/> (by a huge item) is not kept.</summary>
    private static StoredItem Finish(ArrayBufferWriter<byte> writer, List<string> strings, int count, int size, int levels)
    {
        var item = new StoredItem(writer.WrittenSpan.ToArray(), strings.ToArray(), count, size, levels);
        if (writer.Capacity > MaxKeptWriterBytes)
        {
            s_writer = null;
        }

        return item;
    }

    /// <summary>Adds the item to a request's identity: the same bytes <see cref="IdentityHash.Add(IReadOnlyDictionary{string, DynamoValue}?)"/> adds for the item as values.</summary>
    public void AddIdentity(ref IdentityHash hash)
    {
        int at = 0;
        AddMapIdentity(ref hash, ref at);
    }

    /// <inheritdoc/>
    public bool ContainsKey(string key) => Find(key) >= 0;

    /// <inheritdoc/>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out DynamoValue value)
    {
        int at = Find(key);
        if (at < 0)
        {
            value = null;
            return false;
        }

        value = ReadValue(_data, _strings, ref at);
        return true;
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, DynamoValue>> GetEnumerator()
    {
        int at = 0;
        int count = ReadInt(_data, ref at);
        for (int i = 0; i < count; i++)
        {
            string name = _strings[ReadInt(_data, ref at)];
            at += sizeof(int);
            yield return new KeyValuePair<string, DynamoValue>(name, ReadValue(_data, _strings, ref at));
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// The item in the SDK's types with its attribute names in ordinal order at every level (as the JSON answer lists
    /// them); binaries are read-only streams over the stored bytes.
    /// </summary>
    public Dictionary<string, AttributeValue> ToSdkOrdered()
    {
        int at = 0;
        return ReadSdkMap(_data, _strings, ref at);
    }

    private int Find(string key)
    {
        int at = 0;
        int count = ReadInt(_data, ref at);
        for (int i = 0; i < count; i++)
        {
            bool match = string.Equals(_strings[ReadInt(_data, ref at)], key, StringComparison.Ordinal);
            int valueLength = ReadInt(_data, ref at);
            if (match)
            {
                return at;
            }

            at += valueLength;
        }

        return -1;
    }

    /// <summary>Writes a map; returns its deepest value's levels.</summary>
    private static int WriteMap(ArrayBufferWriter<byte> writer, List<string> strings, IReadOnlyDictionary<string, DynamoValue> map)
    {
        int levels = 0;
        WriteInt(writer, map.Count);
        foreach (string name in OrdinalKeys.Of(map))
        {
            WriteString(writer, strings, name);
            int lengthAt = writer.WrittenCount;
            WriteInt(writer, 0);
            levels = Math.Max(levels, WriteValue(writer, strings, map[name]));
            WriteLength(writer, lengthAt);
        }

        return levels;
    }

    /// <summary>The length of the value written after <paramref name="lengthAt"/>, written there, so a lookup can step over it.</summary>
    private static void WriteLength(ArrayBufferWriter<byte> writer, int lengthAt)
    {
        int length = writer.WrittenCount - lengthAt - sizeof(int);
        BinaryPrimitives.WriteInt32LittleEndian(MemoryMarshal.AsMemory(writer.WrittenMemory).Span.Slice(lengthAt, sizeof(int)), length);
    }

    private void AddMapIdentity(ref IdentityHash hash, ref int at)
    {
        int count = ReadInt(_data, ref at);
        hash.AddByte(2);
        hash.AddInt(count);
        for (int i = 0; i < count; i++)
        {
            hash.Add(ReadString(_data, _strings, ref at));
            at += sizeof(int);
            AddValueIdentity(ref hash, ref at);
        }
    }

    private void AddValueIdentity(ref IdentityHash hash, ref int at)
    {
        var type = (DynamoType)_data[at++];
        hash.AddByte((byte)(16 + (int)type));
        switch (type)
        {
            case DynamoType.S:
            case DynamoType.N:
                hash.Add(ReadString(_data, _strings, ref at));
                break;
            case DynamoType.B:
                (int offset, int length) = ReadBytes(_data, ref at);
                hash.AddBytes(_data.AsSpan(offset, length));
                break;
            case DynamoType.BOOL:
                hash.AddByte(_data[at++]);
                break;
            case DynamoType.NULL:
                hash.AddByte(1);
                break;
            case DynamoType.M:
                AddMapIdentity(ref hash, ref at);
                break;
            case DynamoType.L:
                int items = ReadInt(_data, ref at);
                hash.AddInt(items);
                for (int i = 0; i < items; i++)
                {
                    AddValueIdentity(ref hash, ref at);
                }

                break;
            default:
                int members = ReadInt(_data, ref at);
                hash.AddInt(members);
                for (int i = 0; i < members; i++)
                {
                    // A member counts as a value of its scalar type.
                    if (type == DynamoType.BS)
                    {
                        hash.AddByte(16 + (int)DynamoType.B);
                        (int o, int l) = ReadBytes(_data, ref at);
                        hash.AddBytes(_data.AsSpan(o, l));
                    }
                    else
                    {
                        hash.AddByte((byte)(16 + (int)(type == DynamoType.SS ? DynamoType.S : DynamoType.N)));
                        hash.Add(ReadString(_data, _strings, ref at));
                    }
                }

                break;
        }
    }

    /// <summary>
    /// Writes a map whose values are under <paramref name="wrappers"/> maps and lists; its size as
    /// <see cref="DynamoValue.ItemSize"/> counts it (per attribute its name's UTF-8 length and its value's size) and its
    /// deepest value's levels.
    /// </summary>
    private static bool TryWriteSdkMap(ArrayBufferWriter<byte> writer, List<string> strings, Dictionary<string, AttributeValue> map, int wrappers, out int size, out int levels)
    {
        size = 0;
        levels = 0;
        WriteInt(writer, map.Count);

        // The attributes in ordinal name order, in a pooled array (a map per request and level: no array of its own each
        // time), each value taken with its name (no second lookup by name).
        int count = map.Count;
        KeyValuePair<string, AttributeValue>[] entries = ArrayPool<KeyValuePair<string, AttributeValue>>.Shared.Rent(count);
        try
        {
            int n = 0;
            foreach (KeyValuePair<string, AttributeValue> kv in map)
            {
                entries[n++] = kv;
            }

            SortByName(entries.AsSpan(0, count));
            for (int i = 0; i < count; i++)
            {
                (string name, AttributeValue value) = entries[i];
                WriteString(writer, strings, name);
                int lengthAt = writer.WrittenCount;
                WriteInt(writer, 0);
                if (!TryWriteSdkValue(writer, strings, value, wrappers, out int valueSize, out int valueLevels))
                {
                    return false;
                }

                size += Encoding.UTF8.GetByteCount(name) + valueSize;
                levels = Math.Max(levels, valueLevels);
                WriteLength(writer, lengthAt);
            }
        }
        finally
        {
            ArrayPool<KeyValuePair<string, AttributeValue>>.Shared.Return(entries, clearArray: true);
        }

        return true;
    }

    /// <summary>
    /// Sorts attributes by ordinal name: an insertion sort for an item's few attributes (no comparison delegate, no
    /// moves for names nearly in order), the library's sort for a large map.
    /// </summary>
    internal static void SortByName(Span<KeyValuePair<string, AttributeValue>> entries)
    {
        if (entries.Length > 32)
        {
            entries.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            return;
        }

        for (int i = 1; i < entries.Length; i++)
        {
            KeyValuePair<string, AttributeValue> entry = entries[i];
            int j = i - 1;
            while (j >= 0 && string.CompareOrdinal(entries[j].Key, entry.Key) > 0)
            {
                entries[j + 1] = entries[j];
                j--;
            }

            entries[j + 1] = entry;
        }
    }

    /// <summary>
    /// One value with exactly one type set, checked as the SDK request view checks it (a value under more maps and lists
    /// than DynamoDB nests is left to the JSON path too), its size and its levels.
    /// </summary>
    private static bool TryWriteSdkValue(ArrayBufferWriter<byte> writer, List<string> strings, AttributeValue? v, int wrappers, out int size, out int levels)
    {
        size = 0;
        levels = 1;
        if (v is null || wrappers >= DynamoValue.MaxNestingLevels)
        {
            return false;
        }

        int set = (v.S is not null ? 1 : 0) + (v.N is not null ? 1 : 0) + (v.B is not null ? 1 : 0) + (v.BOOL.HasValue ? 1 : 0)
            + (v.NULL.HasValue ? 1 : 0) + (v.M is not null ? 1 : 0) + (v.L is not null ? 1 : 0) + (v.SS is not null ? 1 : 0)
            + (v.NS is not null ? 1 : 0) + (v.BS is not null ? 1 : 0);
        if (set != 1 || v.NULL == false)
        {
            return false;
        }

        DynamoType type = v.S is not null ? DynamoType.S : v.N is not null ? DynamoType.N : v.B is not null ? DynamoType.B
            : v.BOOL.HasValue ? DynamoType.BOOL : v.NULL.HasValue ? DynamoType.NULL : v.M is not null ? DynamoType.M
            : v.L is not null ? DynamoType.L : v.SS is not null ? DynamoType.SS : v.NS is not null ? DynamoType.NS : DynamoType.BS;
        Span<byte> tag = writer.GetSpan(1);
        tag[0] = (byte)type;
        writer.Advance(1);
        switch (type)
        {
            case DynamoType.S:
                WriteString(writer, strings, v.S!);
                size = Encoding.UTF8.GetByteCount(v.S!);
                return true;
            case DynamoType.N:
                size = WriteNumber(writer, strings, v.N!);
                return true;
            case DynamoType.B:
                size = WriteStream(writer, v.B!);
                return true;
            case DynamoType.BOOL:
                Span<byte> flag = writer.GetSpan(1);
                flag[0] = v.BOOL!.Value ? (byte)1 : (byte)0;
                writer.Advance(1);
                size = 1;
                return true;
            case DynamoType.NULL:
                size = 1;
                return true;
            case DynamoType.M:
                if (!TryWriteSdkMap(writer, strings, v.M!, wrappers + 1, out int inner, out int innerLevels))
                {
                    return false;
                }

                size = 3 + v.M!.Count + inner;
                levels = 1 + innerLevels;
                return true;
            case DynamoType.L:
                WriteInt(writer, v.L!.Count);
                size = 3;
                foreach (AttributeValue? element in v.L!)
                {
                    if (!TryWriteSdkValue(writer, strings, element, wrappers + 1, out int elementSize, out int elementLevels))
                    {
                        return false;
                    }

                    size += 1 + elementSize;
                    levels = Math.Max(levels, 1 + elementLevels);
                }

                return true;
            case DynamoType.SS:
            case DynamoType.NS:
                List<string> texts = (type == DynamoType.SS ? v.SS : v.NS)!;
                WriteInt(writer, texts.Count);
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (string? text in texts)
                {
                    if (text is null)
                    {
                        return false;
                    }

                    if (type == DynamoType.SS)
                    {
                        WriteString(writer, strings, text);
                        size += Encoding.UTF8.GetByteCount(text);
                        if (!seen.Add(text))
                        {
                            return false;
                        }
                    }
                    else
                    {
                        size += WriteNumber(writer, strings, text);
                        if (!seen.Add(strings[^1]))
                        {
                            return false;
                        }
                    }
                }

                return texts.Count > 0;
            default:
                WriteInt(writer, v.BS!.Count);
                var members = new List<byte[]>(v.BS!.Count);
                foreach (MemoryStream? stream in v.BS!)
                {
                    if (stream is null)
                    {
                        return false;
                    }

                    byte[] member = stream.ToArray();
                    if (members.Exists(m => m.AsSpan().SequenceEqual(member)))
                    {
                        return false;
                    }

                    members.Add(member);
                    WriteBytes(writer, member);
                    size += member.Length;
                }

                return members.Count > 0;
        }
    }

    /// <summary>A number as its normalized text (as a value read from it keeps it); returns its size.</summary>
    private static int WriteNumber(ArrayBufferWriter<byte> writer, List<string> strings, string text)
    {
        DynamoNumber number = DynamoNumber.Parse(text);
        WriteString(writer, strings, DynamoNumber.TextOf(number, text));
        return number.StorageSize;
    }

    /// <summary>Writes a value; returns its levels (<see cref="DynamoValue.Levels"/>).</summary>
    private static int WriteValue(ArrayBufferWriter<byte> writer, List<string> strings, DynamoValue value)
    {
        int levels = 1;
        Span<byte> type = writer.GetSpan(1);
        type[0] = (byte)value.Type;
        writer.Advance(1);
        switch (value.Type)
        {
            case DynamoType.S:
            case DynamoType.N:
                WriteString(writer, strings, value.Text!);
                break;
            case DynamoType.B:
                WriteBytes(writer, value.Bytes!);
                break;
            case DynamoType.BOOL:
                Span<byte> b = writer.GetSpan(1);
                b[0] = value.Bool ? (byte)1 : (byte)0;
                writer.Advance(1);
                break;
            case DynamoType.NULL:
                break;
            case DynamoType.M:
                levels = 1 + WriteMap(writer, strings, value.Map!);
                break;
            case DynamoType.L:
                WriteInt(writer, value.List!.Count);
                foreach (DynamoValue member in value.List!)
                {
                    levels = Math.Max(levels, 1 + WriteValue(writer, strings, member));
                }

                break;
            case DynamoType.SS:
            case DynamoType.NS:
                WriteInt(writer, value.Set!.Count);
                foreach (DynamoValue member in value.Set!)
                {
                    WriteString(writer, strings, member.Text!);
                }

                break;
            default:
                WriteInt(writer, value.Set!.Count);
                foreach (DynamoValue member in value.Set!)
                {
                    WriteBytes(writer, member.Bytes!);
                }

                break;
        }

        return levels;
    }

    private static void WriteInt(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(sizeof(int)), value);
        writer.Advance(sizeof(int));
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, List<string> strings, string text)
    {
        WriteInt(writer, strings.Count);
        strings.Add(text);
    }

    /// <summary>
    /// Writes a binary given as a stream: its whole content, what <see cref="MemoryStream.ToArray"/> gives (the SDK
    /// sends that, wherever the position is), copied straight from the stream's buffer when it lends it (no position is
    /// moved: requests may share a stream); returns its length.
    /// </summary>
    private static int WriteStream(ArrayBufferWriter<byte> writer, MemoryStream stream)
    {
        if (stream.TryGetBuffer(out ArraySegment<byte> content))
        {
            WriteInt(writer, content.Count);
            content.AsSpan().CopyTo(writer.GetSpan(content.Count));
            writer.Advance(content.Count);
            return content.Count;
        }

        byte[] bytes = stream.ToArray();
        WriteBytes(writer, bytes);
        return bytes.Length;
    }

    private static void WriteBytes(ArrayBufferWriter<byte> writer, byte[] bytes)
    {
        WriteInt(writer, bytes.Length);
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
    }

    private static int ReadInt(byte[] data, ref int at)
    {
        int value = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at));
        at += sizeof(int);
        return value;
    }

    private static string ReadString(byte[] data, string[] strings, ref int at) => strings[ReadInt(data, ref at)];

    private static (int Offset, int Length) ReadBytes(byte[] data, ref int at)
    {
        int length = ReadInt(data, ref at);
        (int, int) range = (at, length);
        at += length;
        return range;
    }

    private static DynamoValue ReadValue(byte[] data, string[] strings, ref int at)
    {
        var type = (DynamoType)data[at++];
        switch (type)
        {
            case DynamoType.S:
                return DynamoValue.String(ReadString(data, strings, ref at));
            case DynamoType.N:
                string stored = ReadString(data, strings, ref at);
                return DynamoValue.FromNumber(DynamoNumber.Parse(stored), stored);
            case DynamoType.B:
                (int offset, int length) = ReadBytes(data, ref at);
                return DynamoValue.Binary(data.AsSpan(offset, length).ToArray());
            case DynamoType.BOOL:
                return DynamoValue.Boolean(data[at++] != 0);
            case DynamoType.NULL:
                return DynamoValue.Null();
            case DynamoType.M:
                return DynamoValue.FromMap(ReadMap(data, strings, ref at));
            case DynamoType.L:
                {
                    int count = ReadInt(data, ref at);
                    var list = new List<DynamoValue>(count);
                    for (int i = 0; i < count; i++)
                    {
                        list.Add(ReadValue(data, strings, ref at));
                    }

                    return DynamoValue.FromList(list);
                }

            default:
                {
                    int count = ReadInt(data, ref at);
                    var members = new List<DynamoValue>(count);
                    for (int i = 0; i < count; i++)
                    {
                        members.Add(type switch
                        {
                            DynamoType.SS => DynamoValue.String(ReadString(data, strings, ref at)),
                            DynamoType.NS => DynamoValue.FromNumber(DynamoNumber.Parse(ReadString(data, strings, ref at))),
                            _ => DynamoValue.Binary(ReadBinary(data, ref at)),
                        });
                    }

                    return DynamoValue.FromSet(type, members);
                }
        }

        static byte[] ReadBinary(byte[] data, ref int at)
        {
            (int offset, int length) = ReadBytes(data, ref at);
            return data.AsSpan(offset, length).ToArray();
        }
    }

    private static Dictionary<string, DynamoValue> ReadMap(byte[] data, string[] strings, ref int at)
    {
        int count = ReadInt(data, ref at);
        var map = new Dictionary<string, DynamoValue>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = ReadString(data, strings, ref at);
            at += sizeof(int);
            map[name] = ReadValue(data, strings, ref at);
        }

        return map;
    }

    private static Dictionary<string, AttributeValue> ReadSdkMap(byte[] data, string[] strings, ref int at)
    {
        int count = ReadInt(data, ref at);
        var map = new Dictionary<string, AttributeValue>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = ReadString(data, strings, ref at);
            at += sizeof(int);
            map[name] = ReadSdkValue(data, strings, ref at);
        }

        return map;
    }

    private static AttributeValue ReadSdkValue(byte[] data, string[] strings, ref int at)
    {
        var type = (DynamoType)data[at++];
        switch (type)
        {
            case DynamoType.S:
                return new AttributeValue { S = ReadString(data, strings, ref at) };
            case DynamoType.N:
                return new AttributeValue { N = ReadString(data, strings, ref at) };
            case DynamoType.B:
                return new AttributeValue { B = ReadStream(data, ref at) };
            case DynamoType.BOOL:
                return new AttributeValue { BOOL = data[at++] != 0 };
            case DynamoType.NULL:
                return new AttributeValue { NULL = true };
            case DynamoType.M:
                return new AttributeValue { M = ReadSdkMap(data, strings, ref at) };
            case DynamoType.L:
                {
                    int count = ReadInt(data, ref at);
                    var list = new List<AttributeValue>(count);
                    for (int i = 0; i < count; i++)
                    {
                        list.Add(ReadSdkValue(data, strings, ref at));
                    }

                    return new AttributeValue { L = list };
                }

            case DynamoType.SS:
            case DynamoType.NS:
                {
                    int count = ReadInt(data, ref at);
                    var members = new List<string>(count);
                    for (int i = 0; i < count; i++)
                    {
                        members.Add(ReadString(data, strings, ref at));
                    }

                    return type == DynamoType.SS ? new AttributeValue { SS = members } : new AttributeValue { NS = members };
                }

            default:
                {
                    int count = ReadInt(data, ref at);
                    var members = new List<MemoryStream>(count);
                    for (int i = 0; i < count; i++)
                    {
                        members.Add(ReadStream(data, ref at));
                    }

                    return new AttributeValue { BS = members };
                }
        }

        static MemoryStream ReadStream(byte[] data, ref int at)
        {
            (int offset, int length) = ReadBytes(data, ref at);
            return new MemoryStream(data, offset, length, writable: false);
        }
    }
}
