using System.Security.Cryptography;
using System.Text;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// Encodes KPL aggregated records (magic, protobuf <c>AggregatedRecord</c>, MD5) the way the KPL lays them out:
/// key tables first, then the records. Adapted from the tests' encoder (tests/.../Transport/KplTestEncoder.cs).
/// </summary>
internal static class KplEncoder
{
    private static readonly byte[] s_magic = [0xF3, 0x89, 0x9A, 0xC2];

    public static byte[] Aggregate(IReadOnlyList<(string PartitionKey, byte[] Data)> records)
    {
        var partitionKeys = new List<string>();
        var body = new List<byte>();
        var message = new List<byte>();
        var encoded = new List<byte[]>();
        foreach ((string partitionKey, byte[] data) in records)
        {
            int index = partitionKeys.IndexOf(partitionKey);
            if (index < 0)
            {
                partitionKeys.Add(partitionKey);
                index = partitionKeys.Count - 1;
            }

            body.Clear();
            WriteVarintField(body, 1, (ulong)index);
            WriteBytesField(body, 3, data);
            encoded.Add([.. body]);
        }

        foreach (string key in partitionKeys)
        {
            WriteBytesField(message, 1, Encoding.UTF8.GetBytes(key));
        }

        foreach (byte[] record in encoded)
        {
            WriteBytesField(message, 3, record);
        }

        byte[] protobuf = [.. message];
        var blob = new byte[s_magic.Length + protobuf.Length + 16];
        s_magic.CopyTo(blob, 0);
        protobuf.CopyTo(blob, s_magic.Length);
        MD5.HashData(protobuf, blob.AsSpan(s_magic.Length + protobuf.Length));
        return blob;
    }

    private static void WriteVarint(List<byte> to, ulong value)
    {
        while (value >= 0x80)
        {
            to.Add((byte)(value | 0x80));
            value >>= 7;
        }

        to.Add((byte)value);
    }

    private static void WriteVarintField(List<byte> to, int field, ulong value)
    {
        WriteVarint(to, (ulong)field << 3);
        WriteVarint(to, value);
    }

    private static void WriteBytesField(List<byte> to, int field, ReadOnlySpan<byte> value)
    {
        WriteVarint(to, ((ulong)field << 3) | 2);
        WriteVarint(to, (ulong)value.Length);
        to.AddRange(value);
    }
}
