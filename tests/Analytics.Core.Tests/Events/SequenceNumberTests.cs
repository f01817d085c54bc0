using System.Globalization;
using System.Numerics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Events;

public class SequenceNumberTests
{
    private static readonly Gen<string> s_digits =
        from length in Gen.Choose(1, SequenceNumber.MaxDigits)
        from first in Gen.Choose(1, 9)
        from rest in Gen.ArrayOf(Gen.Choose(0, 9), length - 1)
        select first.ToString(CultureInfo.InvariantCulture) + string.Concat(rest);

    [Fact]
    public void Compare_AgreesWithBigInteger()
    {
        // Half the pairs share a length, so digit-by-digit comparison is exercised, not only the length shortcut.
        Gen<(string, string)> pairs = Gen.OneOf(
            Gen.Zip(s_digits, s_digits),
            s_digits.SelectMany(a => Gen.ArrayOf(Gen.Choose(0, 9), a.Length - 1).Select(d => (a, a[0] + string.Concat(d)))));
        Prop.ForAll(pairs.ToArbitrary(), p =>
        {
            int expected = BigInteger.Parse(p.Item1, CultureInfo.InvariantCulture).CompareTo(BigInteger.Parse(p.Item2, CultureInfo.InvariantCulture));
            return Math.Sign(SequenceNumber.Compare(Encoding.ASCII.GetBytes(p.Item1), Encoding.ASCII.GetBytes(p.Item2))) == expected
                && Math.Sign(SequenceNumber.Compare(p.Item1, p.Item2)) == expected;
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("49590338271490256608559692538361571095921575989136588898", true)]
    [InlineData("", false)]
    [InlineData("00", false)]
    [InlineData("012", false)]
    [InlineData("12a", false)]
    [InlineData("-1", false)]
    public void IsValid_FollowsThePattern(string candidate, bool expected) =>
        Assert.Equal(expected, SequenceNumber.IsValid(Encoding.ASCII.GetBytes(candidate)));

    [Fact]
    public void IsValid_RejectsMoreThan129Digits()
    {
        Assert.True(SequenceNumber.IsValid(Encoding.ASCII.GetBytes("1" + new string('0', 128))));
        Assert.False(SequenceNumber.IsValid(Encoding.ASCII.GetBytes("1" + new string('0', 129))));
    }

    [Fact]
    public void Compare_NullString_IsAnArgumentError_NamingTheArgument()
    {
        Assert.Equal("left", Assert.Throws<ArgumentNullException>(() => SequenceNumber.Compare(null!, "1")).ParamName);
        Assert.Equal("right", Assert.Throws<ArgumentNullException>(() => SequenceNumber.Compare("1", null!)).ParamName);
    }
}
