using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Analytics.Core.Testing;

/// <summary>
/// The additional checksums S3 checks (base64 of the big-endian digest): CRC-32, CRC-32C, CRC-64/NVME, SHA-1 and
/// SHA-256. The CRCs are the reflected table forms of their polynomials.
/// </summary>
internal static class S3Checksums
{
    private static readonly uint[] s_crc32 = Table32(0xEDB88320u);
    private static readonly uint[] s_crc32c = Table32(0x82F63B78u);
    private static readonly ulong[] s_crc64nvme = Table64(0x9A6C9329AC4BC9B5ul);

    /// <summary>The checksum of <paramref name="data"/> by <paramref name="algorithm"/> (lower case, as in the header name), or null for one S3 does not have.</summary>
    public static string? Compute(string algorithm, ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[32];
        switch (algorithm)
        {
            case "crc32":
                BinaryPrimitives.WriteUInt32BigEndian(digest, Crc32(s_crc32, data));
                return Convert.ToBase64String(digest[..4]);
            case "crc32c":
                BinaryPrimitives.WriteUInt32BigEndian(digest, Crc32(s_crc32c, data));
                return Convert.ToBase64String(digest[..4]);
            case "crc64nvme":
                BinaryPrimitives.WriteUInt64BigEndian(digest, Crc64(s_crc64nvme, data));
                return Convert.ToBase64String(digest[..8]);
            case "sha1":
                return Convert.ToBase64String(SHA1.HashData(data));
            case "sha256":
                return Convert.ToBase64String(SHA256.HashData(data));
            default:
                return null;
        }
    }

    private static uint Crc32(uint[] table, ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static ulong Crc64(ulong[] table, ReadOnlySpan<byte> data)
    {
        ulong crc = ulong.MaxValue;
        foreach (byte b in data)
        {
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] Table32(uint polynomial)
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }

    private static ulong[] Table64(ulong polynomial)
    {
        var table = new ulong[256];
        for (ulong i = 0; i < 256; i++)
        {
            ulong c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
