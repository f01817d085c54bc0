using System.Globalization;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>A list of user records and how to lay them out in the container.</summary>
public sealed record KplTestCase(KplTestUserRecord[] Records, KplTestLayout Layout, int? UnknownFieldSeed)
{
    public override string ToString() =>
        $"{Records.Length} records, {Layout}, unknown fields seed {UnknownFieldSeed?.ToString(CultureInfo.InvariantCulture) ?? "none"}: [{string.Join("; ", Records.Take(5))}]";
}

/// <summary>What a corruption does to a byte array.</summary>
public enum KplCorruptionKind
{
    FlipBit,
    Truncate,
    Append,
    Insert,
}

/// <summary>One corruption of a byte array; it always changes the array.</summary>
public sealed record KplCorruption(KplCorruptionKind Kind, int Position, int Bit, byte[] Bytes)
{
    public byte[] Apply(byte[] input)
    {
        KplCorruptionKind kind = input.Length == 0 && Kind is KplCorruptionKind.FlipBit or KplCorruptionKind.Truncate ? KplCorruptionKind.Append : Kind;
        int at = input.Length == 0 ? 0 : Position % input.Length;
        switch (kind)
        {
            case KplCorruptionKind.FlipBit:
                byte[] flipped = (byte[])input.Clone();
                flipped[at] ^= (byte)(1 << Bit);
                return flipped;
            case KplCorruptionKind.Truncate:
                return input[..at];
            case KplCorruptionKind.Append:
                return [.. input, .. Bytes];
            default:
                return [.. input[..at], .. Bytes, .. input[at..]];
        }
    }

    public override string ToString() => $"{Kind} at {Position} bit {Bit} bytes [{Convert.ToHexString(Bytes)}]";
}

/// <summary>Generators for the KPL properties.</summary>
public static class KplArbitraries
{
    private static readonly string[] s_keyPieces = ["a", "b", "key", "é", "ключ", "键", "🔑", "-", "0", " "];

    public static Arbitrary<KplTestCase> TestCase()
    {
        Gen<byte> oneByte = Gen.Choose(0, 255).Select(i => (byte)i);
        Gen<string> key =
            from n in Gen.Choose(0, 4)
            from parts in Gen.ArrayOf(Gen.Elements(s_keyPieces), n)
            select string.Concat(parts);
        Gen<string?> hashKey = Gen.OneOf(
            Gen.Constant<string?>(null),
            Gen.Constant<string?>(null),
            Gen.Choose(0, 1000).Select(i => (string?)(i * 7919L).ToString(CultureInfo.InvariantCulture)));
        Gen<byte[]> data = Gen.OneOf(
            Gen.ArrayOf(oneByte),
            Gen.Constant(Array.Empty<byte>()),
            from n in Gen.Choose(128, 600) from bytes in Gen.ArrayOf(oneByte, n) select bytes);
        Gen<KplTestTag> tag =
            from k in key
            from v in Gen.OneOf(Gen.Constant<string?>(null), key.Select(s => (string?)s))
            select new KplTestTag(k, v);
        Gen<KplTestUserRecord> record =
            from pk in key
            from ehk in hashKey
            from d in data
            from tagCount in Gen.OneOf(Gen.Constant(0), Gen.Constant(0), Gen.Choose(1, 3))
            from tags in Gen.ArrayOf(tag, tagCount)
            select new KplTestUserRecord(pk, ehk, d, tags);
        Gen<KplTestCase> testCase =
            from records in Gen.ArrayOf(record)
            from layout in Gen.Elements(KplTestLayout.TablesFirst, KplTestLayout.RecordsFirst, KplTestLayout.Interleaved)
            from seed in Gen.OneOf(Gen.Constant<int?>(null), Gen.Choose(0, int.MaxValue - 1).Select(i => (int?)i))
            select new KplTestCase(records, layout, seed);
        return testCase.ToArbitrary();
    }

    public static Arbitrary<KplCorruption> Corruption()
    {
        Gen<byte> oneByte = Gen.Choose(0, 255).Select(i => (byte)i);
        Gen<KplCorruption> corruption =
            from kind in Gen.Elements(KplCorruptionKind.FlipBit, KplCorruptionKind.Truncate, KplCorruptionKind.Append, KplCorruptionKind.Insert)
            from position in Gen.Choose(0, int.MaxValue - 1)
            from bit in Gen.Choose(0, 7)
            from n in Gen.Choose(1, 12)
            from bytes in Gen.ArrayOf(oneByte, n)
            select new KplCorruption(kind, position, bit, bytes);
        return corruption.ToArbitrary();
    }
}
