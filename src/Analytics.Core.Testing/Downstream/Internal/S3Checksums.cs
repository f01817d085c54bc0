using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Analytics.Core.Testing;

/// <summary>
/// The additional checksums S3 checks (base64 of the big-endian digest): CRC-32, CRC-32C, CRC-64/NVME, SHA-1 and
/// SHA-256. The CRCs are the reflected table forms of their polynomials.
/// </summary>
internal static class S3Checksums
{
    private static readonly uint[] s_crc32 = Table(0xEDB88320u);
    private static readonly uint[] s_crc32c = Table(0x82F63B78u);
    private static readonly ulong[] s_crc64nvme = Table(0x9A6C9329AC4BC9B5ul);

    /// <summary>The checksum of <paramref name="data"/> by <paramref name="algorithm"/> (lower case, as in the header name), or null for one S3 does not have.</summary>
    public static string? Compute(string algorithm, ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[32];
        switch (algorithm)
        {
            case "crc32":
                BinaryPrimitives.WriteUInt32BigEndian(digest, Crc(s_crc32, data));
                return Convert.ToBase64String(digest[..4]);
            case "crc32c":
                BinaryPrimitives.WriteUInt32BigEndian(digest, Crc(s_crc32c, data));
                return Convert.ToBase64String(digest[..4]);
            case "crc64nvme":
                BinaryPrimitives.WriteUInt64BigEndian(digest, Crc(s_crc64nvme, data));
                return Convert.ToBase64String(digest[..8]);
            case "sha1":
                return Convert.ToBase64String(SHA1.HashData(data));
            case "sha256":
                return Convert.ToBase64String(SHA256.HashData(data));
            default:
                return null;
        }
    }

    /// <summary>A reflected CRC over <paramref name="data"/>: all ones in, all ones out, one table lookup per byte.</summary>
    private static T Crc<T>(T[] table, ReadOnlySpan<byte> data)
        where T : IBinaryInteger<T>, IUnsignedNumber<T>
    {
        T crc = T.AllBitsSet;
        foreach (byte b in data)
        {
            crc = table[int.CreateTruncating((crc ^ T.CreateTruncating(b)) & T.CreateTruncating(0xFF))] ^ (crc >> 8);
        }

        return ~crc;
    }

    /// <summary>The byte table of a reflected CRC of <paramref name="polynomial"/> (given reflected).</summary>
    private static T[] Table<T>(T polynomial)
        where T : IBinaryInteger<T>, IUnsignedNumber<T>
    {
        var table = new T[256];
        for (int i = 0; i < 256; i++)
        {
            T c = T.CreateTruncating(i);
            for (int k = 0; k < 8; k++)
            {
                c = T.IsOddInteger(c) ? polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
