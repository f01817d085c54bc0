using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Records;

/// <summary>The parser's key comparison orders exactly as <see cref="MemoryExtensions.SequenceCompareTo{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/>.</summary>
public class CompareKeysTests
{
    [Fact]
    public void HasTheSignOfSequenceCompareTo()
    {
        // Short keys over a few byte values (so that prefixes and equal keys are common), NUL and high bytes included.
        Gen<byte[]> key =
            from n in Gen.Choose(0, 12)
            from bytes in Gen.ArrayOf(Gen.Elements<byte>(0, 1, (byte)'a', (byte)'b', (byte)'k', 0x7F, 0x80, 0xFF), n)
            select bytes;
        Prop.ForAll(key.ToArbitrary(), key.ToArbitrary(), (a, b) =>
        {
            Assert.Equal(Math.Sign(a.AsSpan().SequenceCompareTo(b)), Math.Sign(MetricRecordParser.CompareKeys(a, b)));
            Assert.Equal(0, MetricRecordParser.CompareKeys(a, (byte[])a.Clone()));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(5000));
    }
}
