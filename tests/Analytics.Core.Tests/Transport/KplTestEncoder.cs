using System.Security.Cryptography;
using System.Text;

namespace Analytics.Core.Tests;

/// <summary>A tag of a user record, as the test encoder writes it.</summary>
public sealed record KplTestTag(string Key, string? Value);

/// <summary>A user record as a producer hands it to an aggregator.</summary>
public sealed record KplTestUserRecord(string PartitionKey, string? ExplicitHashKey, byte[] Data, KplTestTag[] Tags)
{
    public override string ToString() =>
        $"pk='{PartitionKey}' ehk='{ExplicitHashKey}' data={Data.Length}B tags={Tags.Length}";
}

/// <summary>Where the key tables go relative to the records; protobuf allows any order of repeated fields.</summary>
public enum KplTestLayout
{
    TablesFirst,
    RecordsFirst,
    Interleaved,
}

/// <summary>
/// A protobuf encoder for the KPL <c>AggregatedRecord</c>, written for the tests only (independent of the
/// library's reader). It can interleave fields and add unknown fields of every valid wire type.
/// </summary>
internal static class KplTestEncoder
{
    public static readonly byte[] Magic = [0xF3, 0x89, 0x9A, 0xC2];

    /// <summary>Encodes the records into a full aggregated blob (magic, protobuf, MD5).</summary>
    public static byte[] Aggregate(IReadOnlyList<KplTestUserRecord> records, KplTestLayout layout = KplTestLayout.TablesFirst, int? unknownFieldSeed = null) =>
        Wrap(EncodeMessage(records, layout, unknownFieldSeed));

    /// <summary>Frames protobuf bytes as an aggregated record: magic, the bytes, their MD5.</summary>
    public static byte[] Wrap(ReadOnlySpan<byte> protobuf)
    {
        var blob = new byte[Magic.Length + protobuf.Length + 16];
        Magic.CopyTo(blob, 0);
        protobuf.CopyTo(blob.AsSpan(Magic.Length));
        MD5.HashData(protobuf, blob.AsSpan(Magic.Length + protobuf.Length));
        return blob;
    }

    /// <summary>Encodes the protobuf <c>AggregatedRecord</c>.</summary>
    public static byte[] EncodeMessage(IReadOnlyList<KplTestUserRecord> records, KplTestLayout layout, int? unknownFieldSeed)
    {
        Random? random = unknownFieldSeed is int seed ? new Random(seed) : null;
        var partitionKeys = new List<string>();
        var hashKeys = new List<string>();
        var encodedRecords = new List<byte[]>();
        foreach (KplTestUserRecord r in records)
        {
            int pk = IndexOf(partitionKeys, r.PartitionKey);
            int? ehk = r.ExplicitHashKey is null ? null : IndexOf(hashKeys, r.ExplicitHashKey);
            var body = new List<byte>();
            MaybeUnknown(body, random);
            WriteVarintField(body, 1, (ulong)pk);
            MaybeUnknown(body, random);
            if (ehk is int e)
            {
                WriteVarintField(body, 2, (ulong)e);
            }

            WriteBytesField(body, 3, r.Data);
            foreach (KplTestTag tag in r.Tags)
            {
                var t = new List<byte>();
                WriteBytesField(t, 1, Encoding.UTF8.GetBytes(tag.Key));
                MaybeUnknown(t, random);
                if (tag.Value is not null)
                {
                    WriteBytesField(t, 2, Encoding.UTF8.GetBytes(tag.Value));
                }

                WriteBytesField(body, 4, [.. t]);
            }

            MaybeUnknown(body, random);
            encodedRecords.Add([.. body]);
        }

        var pkFields = partitionKeys.Select(k => Field(1, Encoding.UTF8.GetBytes(k))).ToList();
        var ehkFields = hashKeys.Select(k => Field(2, Encoding.UTF8.GetBytes(k))).ToList();
        var recordFields = encodedRecords.Select(r => Field(3, r)).ToList();
        List<byte[]> order = layout switch
        {
            KplTestLayout.TablesFirst => [.. pkFields, .. ehkFields, .. recordFields],
            KplTestLayout.RecordsFirst => [.. recordFields, .. ehkFields, .. pkFields],
            _ => Interleave(pkFields, ehkFields, recordFields),
        };

        var message = new List<byte>();
        MaybeUnknown(message, random);
        foreach (byte[] field in order)
        {
            message.AddRange(field);
            MaybeUnknown(message, random);
        }

        return [.. message];
    }

    public static void WriteVarint(List<byte> to, ulong value)
    {
        while (value >= 0x80)
        {
            to.Add((byte)(value | 0x80));
            value >>= 7;
        }

        to.Add((byte)value);
    }

    public static void WriteTag(List<byte> to, int field, int wireType) => WriteVarint(to, ((ulong)field << 3) | (uint)wireType);

    public static void WriteVarintField(List<byte> to, int field, ulong value)
    {
        WriteTag(to, field, 0);
        WriteVarint(to, value);
    }

    public static void WriteBytesField(List<byte> to, int field, ReadOnlySpan<byte> value)
    {
        WriteTag(to, field, 2);
        WriteVarint(to, (ulong)value.Length);
        to.AddRange(value);
    }

    private static byte[] Field(int field, byte[] value)
    {
        var b = new List<byte>();
        WriteBytesField(b, field, value);
        return [.. b];
    }

    private static int IndexOf(List<string> table, string key)
    {
        int i = table.IndexOf(key);
        if (i < 0)
        {
            table.Add(key);
            i = table.Count - 1;
        }

        return i;
    }

    private static List<byte[]> Interleave(List<byte[]> a, List<byte[]> b, List<byte[]> c)
    {
        var result = new List<byte[]>();
        int n = Math.Max(a.Count, Math.Max(b.Count, c.Count));
        for (int i = 0; i < n; i++)
        {
            // Records before the table entries they refer to, to prove indexes are checked at the end.
            if (i < c.Count)
            {
                result.Add(c[i]);
            }

            if (i < b.Count)
            {
                result.Add(b[i]);
            }

            if (i < a.Count)
            {
                result.Add(a[i]);
            }
        }

        return result;
    }

    /// <summary>Sometimes adds an unknown field (numbers 5 to 2^29-1, wire types 0, 1, 2 and 5).</summary>
    private static void MaybeUnknown(List<byte> to, Random? random)
    {
        if (random is null || random.Next(3) != 0)
        {
            return;
        }

        int field = random.Next(2) == 0 ? random.Next(5, 20) : random.Next(5, (1 << 29) - 1);
        switch (random.Next(4))
        {
            case 0:
                WriteVarintField(to, field, (ulong)random.NextInt64() << random.Next(2));
                break;
            case 1:
                WriteTag(to, field, 1);
                to.AddRange(BitConverter.GetBytes(random.NextInt64()));
                break;
            case 2:
                var payload = new byte[random.Next(0, 40)];
                random.NextBytes(payload);
                WriteBytesField(to, field, payload);
                break;
            default:
                WriteTag(to, field, 5);
                to.AddRange(BitConverter.GetBytes(random.Next()));
                break;
        }
    }
}
