using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>The model keeps a number's text when it is already the form DynamoDB returns, and makes that form otherwise.</summary>
public sealed class DynamoNumberTextTests
{
    /// <summary>
    /// Property: for any text DynamoDB accepts as a number (built from digits, points, signs, exponents, spaces and
    /// leading or trailing zeros), the text the model keeps is the number's normal form, computed by formatting the
    /// parsed number; and the normal form of any number is kept as it is (no new string for it).
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 2000)]
    public Property KeptText_IsTheNormalForm_AndTheNormalFormIsKept(int seed, int salt)
    {
        var random = new Random((seed * 7919) + salt); // FsCheck draws small ints: two of them give the texts room
        string text = Pick(random, "", "", "-", "+", " ") + Digits(random) + Pick(random, "", "", ".") + Digits(random)
            + Pick(random, "", "", "", "e" + Pick(random, "", "-") + random.Next(0, 4), " ");
        DynamoNumber number;
        try
        {
            number = DynamoNumber.Parse(text);
        }
        catch (DynamoError)
        {
            return true.Label("not a number: " + text);
        }

        string normal = number.ToString();
        string kept = DynamoNumber.TextOf(number, text);
        string again = DynamoNumber.TextOf(DynamoNumber.Parse(normal), normal);
        return (kept == normal && ReferenceEquals(again, normal))
            .Label($"text '{text}': kept '{kept}', normal form '{normal}', the normal form kept as '{again}'");
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("-0", false)]
    [InlineData("00", false)]
    [InlineData("100", true)]
    [InlineData("-12.5", true)]
    [InlineData("12.50", false)]
    [InlineData("0.05", true)]
    [InlineData(".5", false)]
    [InlineData("5.", false)]
    [InlineData("+5", false)]
    [InlineData("1E3", false)]
    [InlineData(" 5", false)]
    public void IsPlain_AcceptsOnlyTheNormalForm(string text, bool plain)
    {
        Assert.Equal(plain, DynamoNumber.IsPlain(text));

        // " 5" and "+5" are no numbers at all (the local server refuses them); the others read, and only the plain
        // ones read back as they were written.
        string? normal = text is " 5" or "+5" ? null : DynamoNumber.Parse(text).ToString();
        Assert.Equal(plain, normal == text);
        if (normal is null)
        {
            Assert.Throws<DynamoError>(() => DynamoNumber.Parse(text));
        }
    }

    private static string Pick(Random random, params string[] choices) => choices[random.Next(choices.Length)];

    /// <summary>Zero to four digits, zeros as likely as all others together (leading and trailing zeros, zero itself).</summary>
    private static string Digits(Random random) =>
        new(Enumerable.Range(0, random.Next(0, 5)).Select(_ => random.Next(2) == 0 ? '0' : (char)('1' + random.Next(9))).ToArray());
}
