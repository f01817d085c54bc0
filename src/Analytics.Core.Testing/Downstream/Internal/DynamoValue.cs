using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>An error the DynamoDB model answers with: HTTP status, the wire <c>__type</c> and the message.</summary>
internal sealed class DynamoError : Exception
{
    private const string DynamoPrefix = "com.amazonaws.dynamodb.v20120810#";

    private DynamoError(int status, string type, string message)
        : base(message)
    {
        Status = status;
        Type = type;
    }

    public int Status { get; }

    /// <summary>The full <c>__type</c>, such as <c>com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException</c>.</summary>
    public string Type { get; }

    /// <summary>The short error code the SDK derives from <see cref="Type"/>.</summary>
    public string Code => Type[(Type.IndexOf('#', StringComparison.Ordinal) + 1)..];

    public static DynamoError Validation(string message) => new(400, "com.amazon.coral.validate#ValidationException", message);

    public static DynamoError Serialization(string message) => new(400, "com.amazon.coral.service#SerializationException", message);

    public static DynamoError UnknownOperation(string target) => new(400, "com.amazon.coral.service#UnknownOperationException", "Unknown operation: " + target);

    public static DynamoError ConditionalCheckFailed() => new(400, DynamoPrefix + "ConditionalCheckFailedException", "The conditional request failed");

    public static DynamoError ResourceNotFound(string message) => new(400, DynamoPrefix + "ResourceNotFoundException", message);

    public static DynamoError ResourceInUse(string message) => new(400, DynamoPrefix + "ResourceInUseException", message);

    public static DynamoError Throttled() => new(
        400,
        DynamoPrefix + "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.");

    public static DynamoError InternalServerError() => new(500, DynamoPrefix + "InternalServerError", "Internal server error");
}

/// <summary>The kinds of a DynamoDB attribute value, named as on the wire.</summary>
internal enum DynamoType
{
    S,
    N,
    B,
    BOOL,
    NULL,
    M,
    L,
    SS,
    NS,
    BS,
}

/// <summary>
/// An immutable DynamoDB attribute value as the model stores it. Numbers are kept in canonical form (see
/// <see cref="DynamoNumber"/>), so equal numbers compare equal whatever their spelling on the wire.
/// </summary>
internal sealed class DynamoValue : IEquatable<DynamoValue>
{
    private int _size = -1;

    private DynamoValue(DynamoType type) => Type = type;

    public DynamoType Type { get; }

    /// <summary>The string of an S, or the canonical text of an N.</summary>
    public string? Text { get; private init; }

    public DynamoNumber Number { get; private init; }

    public byte[]? Bytes { get; private init; }

    public bool Bool { get; private init; }

    public IReadOnlyDictionary<string, DynamoValue>? Map { get; private init; }

    public IReadOnlyList<DynamoValue>? List { get; private init; }

    /// <summary>The members of an SS, NS or BS, each as a scalar value of the member type.</summary>
    public IReadOnlyList<DynamoValue>? Set { get; private init; }

    public static DynamoValue String(string s) => new(DynamoType.S) { Text = s };

    public static DynamoValue FromNumber(DynamoNumber n) => new(DynamoType.N) { Number = n, Text = n.ToString() };

    /// <summary>The number <paramref name="n"/> parsed from <paramref name="text"/>, keeping that text when it is already the number's <see cref="DynamoNumber.ToString"/>.</summary>
    public static DynamoValue FromNumber(DynamoNumber n, string text) => new(DynamoType.N) { Number = n, Text = DynamoNumber.TextOf(n, text) };

    public static DynamoValue Binary(byte[] b) => new(DynamoType.B) { Bytes = b };

    public static DynamoValue Boolean(bool b) => new(DynamoType.BOOL) { Bool = b };

    public static DynamoValue Null() => new(DynamoType.NULL) { Bool = true };

    public static DynamoValue FromMap(IReadOnlyDictionary<string, DynamoValue> map) => new(DynamoType.M) { Map = map };

    public static DynamoValue FromList(IReadOnlyList<DynamoValue> list) => new(DynamoType.L) { List = list };

    public static DynamoValue FromSet(DynamoType setType, IReadOnlyList<DynamoValue> members) => new(setType) { Set = members };

    /// <summary>Whether this is a scalar usable as a key attribute (S, N or B).</summary>
    public bool IsKeyType => Type is DynamoType.S or DynamoType.N or DynamoType.B;

    /// <summary>Reads one attribute value from the wire form <c>{"S":"x"}</c>.</summary>
    /// <exception cref="DynamoError">The value is malformed.</exception>
    public static DynamoValue Parse(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw DynamoError.Serialization("An AttributeValue must be a JSON object.");
        }

        DynamoValue? value = null;
        foreach (JsonProperty p in element.EnumerateObject())
        {
            if (value is not null)
            {
                throw DynamoError.Validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes");
            }

            value = p.Name switch
            {
                "S" => String(RequireString(p.Value)),
                "N" => FromNumber(DynamoNumber.Parse(RequireString(p.Value))),
                "B" => Binary(Base64(p.Value)),
                "BOOL" => p.Value.ValueKind is JsonValueKind.True or JsonValueKind.False ? Boolean(p.Value.GetBoolean()) : throw DynamoError.Serialization("BOOL must be true or false."),
                "NULL" => p.Value.ValueKind == JsonValueKind.True ? Null() : throw DynamoError.Validation("One or more parameter values were invalid: Null attribute value types must have the value of true"),
                "M" => ParseMap(p.Value),
                "L" => ParseList(p.Value),
                "SS" => ParseSet(p.Value, DynamoType.SS, e => String(RequireString(e))),
                "NS" => ParseSet(p.Value, DynamoType.NS, e => FromNumber(DynamoNumber.Parse(RequireString(e)))),
                "BS" => ParseSet(p.Value, DynamoType.BS, e => Binary(Base64(e))),
                _ => throw DynamoError.Serialization("Unknown AttributeValue datatype " + p.Name + "."),
            };
        }

        return value ?? throw DynamoError.Validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
    }

    /// <summary>Reads an attribute map such as an item or a key.</summary>
    public static Dictionary<string, DynamoValue> ParseItem(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw DynamoError.Serialization("An item must be a JSON object.");
        }

        var item = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
        foreach (JsonProperty p in element.EnumerateObject())
        {
            item[p.Name] = Parse(p.Value);
        }

        return item;
    }

    public void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        switch (Type)
        {
            case DynamoType.S:
            case DynamoType.N:
                writer.WriteString(Type.ToString(), Text);
                break;
            case DynamoType.B:
                writer.WriteBase64String("B", Bytes);
                break;
            case DynamoType.BOOL:
                writer.WriteBoolean("BOOL", Bool);
                break;
            case DynamoType.NULL:
                writer.WriteBoolean("NULL", true);
                break;
            case DynamoType.M:
                writer.WritePropertyName("M");
                WriteItem(writer, Map!);
                break;
            case DynamoType.L:
                writer.WriteStartArray("L");
                foreach (DynamoValue v in List!)
                {
                    v.Write(writer);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteStartArray(Type.ToString());
                foreach (DynamoValue v in Set!)
                {
                    if (Type == DynamoType.BS)
                    {
                        writer.WriteBase64StringValue(v.Bytes);
                    }
                    else
                    {
                        writer.WriteStringValue(v.Text);
                    }
                }

                writer.WriteEndArray();
                break;
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes an attribute map with its names in ordinal order, so the output is deterministic.</summary>
    public static void WriteItem(Utf8JsonWriter writer, IReadOnlyDictionary<string, DynamoValue> item)
    {
        writer.WriteStartObject();
        foreach (string key in OrdinalKeys.Of(item))
        {
            writer.WritePropertyName(key);
            item[key].Write(writer);
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// The item's size as DynamoDB counts it against the 400 KB limit and capacity units: per attribute the UTF-8 length
    /// of its name plus the size of its value (strings and binaries by length, numbers about one byte per two
    /// significant digits plus one, 3 bytes of overhead per map or list and 1 per element).
    /// </summary>
    public static int ItemSize(IReadOnlyDictionary<string, DynamoValue> item)
    {
        if (item is StoredItem stored)
        {
            return stored.Size;
        }

        int size = 0;
        foreach (KeyValuePair<string, DynamoValue> kv in item)
        {
            size += Encoding.UTF8.GetByteCount(kv.Key) + kv.Value.Size();
        }

        return size;
    }

    /// <summary>
    /// DynamoDB's nesting limit: a scalar in 31 maps or lists is 32 levels, and an item with an attribute one level deeper
    /// is refused ("Nesting Levels have exceeded supported limits", as recorded against AWS).
    /// </summary>
    public const int MaxNestingLevels = 32;

    /// <summary>The deepest of the item's attributes in levels (<see cref="Levels"/>).</summary>
    public static int NestingLevels(IReadOnlyDictionary<string, DynamoValue> item)
    {
        if (item is StoredItem stored)
        {
            return stored.NestingLevels;
        }

        int levels = 0;
        foreach (KeyValuePair<string, DynamoValue> kv in item)
        {
            levels = Math.Max(levels, kv.Value.Levels());
        }

        return levels;
    }

    /// <summary>A scalar or a set is one level; a map or a list is one more than its deepest member (an empty one is one).</summary>
    public int Levels() => Type switch
    {
        DynamoType.M => 1 + NestingLevels(Map!),
        DynamoType.L => 1 + List!.Select(v => v.Levels()).DefaultIfEmpty(0).Max(),
        _ => 1,
    };

    /// <summary>The value's size as <see cref="ItemSize"/> counts it (computed once: the value is immutable).</summary>
    public int Size()
    {
        if (_size < 0)
        {
            _size = ComputeSize();
        }

        return _size;
    }

    private int ComputeSize() => Type switch
    {
        DynamoType.S => Encoding.UTF8.GetByteCount(Text!),
        DynamoType.N => Number.StorageSize,
        DynamoType.B => Bytes!.Length,
        DynamoType.BOOL or DynamoType.NULL => 1,
        DynamoType.M => 3 + Map!.Count + ItemSize(Map!),
        DynamoType.L => 3 + List!.Sum(v => 1 + v.Size()),
        _ => Set!.Sum(v => v.Size()),
    };

    /// <summary>A string that is equal for equal key values and distinct otherwise (used to index items).</summary>
    public string KeyText => Type switch
    {
        DynamoType.S => "S" + Text,
        DynamoType.N => "N" + Text,
        DynamoType.B => "B" + Convert.ToBase64String(Bytes!),
        _ => throw new InvalidOperationException("Not a key type."),
    };

    /// <summary>Orders two scalars of the same type as DynamoDB does (strings and binaries bytewise, numbers by value); null for different types.</summary>
    public static int? CompareScalars(DynamoValue a, DynamoValue b)
    {
        if (a.Type != b.Type)
        {
            return null;
        }

        return a.Type switch
        {
            DynamoType.S => CompareUtf8(a.Text!, b.Text!),
            DynamoType.N => a.Number.CompareTo(b.Number),
            DynamoType.B => a.Bytes!.AsSpan().SequenceCompareTo(b.Bytes),
            _ => null,
        };
    }

    public bool Equals(DynamoValue? other)
    {
        if (other is null || other.Type != Type)
        {
            return false;
        }

        switch (Type)
        {
            case DynamoType.S:
            case DynamoType.N:
                return string.Equals(Text, other.Text, StringComparison.Ordinal);
            case DynamoType.B:
                return Bytes!.AsSpan().SequenceEqual(other.Bytes);
            case DynamoType.BOOL:
            case DynamoType.NULL:
                return Bool == other.Bool;
            case DynamoType.M:
                return Map!.Count == other.Map!.Count && Map.All(kv => other.Map.TryGetValue(kv.Key, out DynamoValue? v) && kv.Value.Equals(v));
            case DynamoType.L:
                return List!.Count == other.List!.Count && List.Zip(other.List).All(p => p.First.Equals(p.Second));
            default:
                return Set!.Count == other.Set!.Count && Set.All(m => other.Set.Any(o => m.Equals(o)));
        }
    }

    public override bool Equals(object? obj) => Equals(obj as DynamoValue);

    public override int GetHashCode() => HashCode.Combine(Type, Text);

    private static int CompareUtf8(string a, string b)
    {
        // UTF-8 byte order equals code point order, which ordinal UTF-16 comparison gets wrong only around surrogates.
        int ia = 0, ib = 0;
        while (ia < a.Length && ib < b.Length)
        {
            Rune.DecodeFromUtf16(a.AsSpan(ia), out Rune ra, out int na);
            Rune.DecodeFromUtf16(b.AsSpan(ib), out Rune rb, out int nb);
            if (ra.Value != rb.Value)
            {
                return ra.Value.CompareTo(rb.Value);
            }

            ia += na;
            ib += nb;
        }

        return (a.Length - ia).CompareTo(b.Length - ib);
    }

    private static string RequireString(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw DynamoError.Serialization("Expected a string in an AttributeValue.");

    private static byte[] Base64(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.String || !e.TryGetBytesFromBase64(out byte[]? bytes))
        {
            throw DynamoError.Serialization("Binary values must be base64 strings.");
        }

        return bytes;
    }

    private static DynamoValue ParseMap(JsonElement e) => FromMap(ParseItem(e));

    private static DynamoValue ParseList(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw DynamoError.Serialization("L must be an array.");
        }

        return FromList(e.EnumerateArray().Select(Parse).ToList());
    }

    private static DynamoValue ParseSet(JsonElement e, DynamoType type, Func<JsonElement, DynamoValue> member)
    {
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw DynamoError.Serialization(type + " must be an array.");
        }

        return MakeSet(type, e.EnumerateArray().Select(member).ToList());
    }

    /// <summary>A set of the given members, refused as DynamoDB refuses an empty set or one with duplicates.</summary>
    /// <exception cref="DynamoError">The set is empty or has duplicates.</exception>
    public static DynamoValue MakeSet(DynamoType type, List<DynamoValue> members)
    {
        // The service's words, which differ by the set's type.
        if (members.Count == 0)
        {
            throw DynamoError.Validation("One or more parameter values were invalid: " + type switch
            {
                DynamoType.NS => "An number set  may not be empty",
                DynamoType.BS => "Binary sets should not be empty",
                _ => "An string set  may not be empty",
            });
        }

        for (int i = 0; i < members.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (members[i].Equals(members[j]))
                {
                    throw DynamoError.Validation(type switch
                    {
                        DynamoType.SS => "One or more parameter values were invalid: Input collection [" + string.Join(", ", members.Select(m => m.Text)) + "] contains duplicates.",
                        DynamoType.NS => "Input collection contains duplicates",
                        _ => "One or more parameter values were invalid: Input collection contains duplicates",
                    });
                }
            }
        }

        return FromSet(type, members);
    }
}

/// <summary>
/// A DynamoDB number: exact decimal, at most 38 significant digits, magnitude from 1E-130 to below 1E+126, kept as
/// an integer mantissa without trailing zeros times a power of ten.
/// </summary>
internal readonly struct DynamoNumber : IComparable<DynamoNumber>, IEquatable<DynamoNumber>
{
    private const int MaxDigits = 38;

    private DynamoNumber(BigInteger mantissa, int exponent)
    {
        Mantissa = mantissa;
        Exponent = exponent;
    }

    public BigInteger Mantissa { get; }

    public int Exponent { get; }

    public static DynamoNumber Zero => default;

    /// <summary>The number of significant digits.</summary>
    private int Digits => Mantissa.IsZero ? 1 : DigitCount(Mantissa);

    /// <summary>Storage size: about one byte per two significant digits, plus one (and one more for a negative number).</summary>
    public int StorageSize
    {
        get
        {
            if (Mantissa.IsZero)
            {
                return 1;
            }

            int digits = Digits;
            int firstDigitExponent = Exponent + digits - 1;
            int extra = digits % 2 == 0 && firstDigitExponent % 2 == 0 ? 1 : 0;
            return 1 + ((digits + 1) / 2) + extra + (Mantissa.Sign < 0 ? 1 : 0);
        }
    }

    /// <exception cref="DynamoError">Not a number, or out of DynamoDB's precision or range.</exception>
    public static DynamoNumber Parse(string text)
    {
        ReadOnlySpan<char> s = text.AsSpan(); // not trimmed: " 1" is no number to the service (review)
        int i = 0;
        bool negative = false;
        if (i < s.Length && s[i] == '-')
        {
            // "+5" is no number to the local server (review); what DynamoDB says is not recorded: refused, the stricter.
            negative = true;
            i++;
        }

        // The digits without the point (a number's text is short; a long one gets an array).
        Span<char> digits = s.Length <= 128 ? stackalloc char[s.Length] : new char[s.Length];
        int count = 0;
        int fractionDigits = 0;
        bool sawPoint = false, sawDigit = false;
        for (; i < s.Length; i++)
        {
            char c = s[i];
            if (c is >= '0' and <= '9')
            {
                sawDigit = true;
                digits[count++] = c;
                if (sawPoint)
                {
                    fractionDigits++;
                }
            }
            else if (c == '.' && !sawPoint)
            {
                sawPoint = true;
            }
            else
            {
                break;
            }
        }

        int exponent = 0;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (!int.TryParse(s[i..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
            {
                i = -1;
            }
            else
            {
                i = s.Length;
            }
        }

        if (!sawDigit || i != s.Length)
        {
            throw DynamoError.Validation("A value provided cannot be converted into a number");
        }

        // Up to 18 digits fit a long (the common case: counts, versions); longer ones go through BigInteger.
        BigInteger mantissa = count <= 18
            ? long.Parse(digits[..count], NumberStyles.None, CultureInfo.InvariantCulture)
            : BigInteger.Parse(digits[..count], NumberStyles.None, CultureInfo.InvariantCulture);
        var n = Create(negative ? -mantissa : mantissa, (long)exponent - fractionDigits);
        if (n.Digits > MaxDigits)
        {
            throw DynamoError.Validation("Attempting to store more than 38 significant digits in a Number");
        }

        return n;
    }

    /// <summary>The sum, checked against DynamoDB's precision and range.</summary>
    public static DynamoNumber Add(DynamoNumber a, DynamoNumber b)
    {
        int exponent = Math.Min(a.Exponent, b.Exponent);
        BigInteger sum = (a.Mantissa * BigInteger.Pow(10, a.Exponent - exponent)) + (b.Mantissa * BigInteger.Pow(10, b.Exponent - exponent));
        DynamoNumber n = Create(sum, exponent);
        if (n.Digits > MaxDigits)
        {
            throw DynamoError.Validation("Number overflow. Attempting to store a number with magnitude larger than supported range");
        }

        return n;
    }

    public DynamoNumber Negate() => new(-Mantissa, Exponent);

    public int CompareTo(DynamoNumber other)
    {
        int exponent = Math.Min(Exponent, other.Exponent);
        return (Mantissa * BigInteger.Pow(10, Exponent - exponent)).CompareTo(other.Mantissa * BigInteger.Pow(10, other.Exponent - exponent));
    }

    public bool Equals(DynamoNumber other) => Mantissa == other.Mantissa && Exponent == other.Exponent;

    public override bool Equals(object? obj) => obj is DynamoNumber n && Equals(n);

    public override int GetHashCode() => HashCode.Combine(Mantissa, Exponent);

    /// <summary>
    /// <paramref name="n"/>'s <see cref="ToString"/>, which is <paramref name="text"/> itself (not a new string) when the
    /// number was parsed from a text already in that form: most numbers a client sends (counts, versions).
    /// </summary>
    public static string TextOf(DynamoNumber n, string text) => IsPlain(text) ? text : n.ToString();

    /// <summary>
    /// Whether <paramref name="s"/> is in the form <see cref="ToString"/> writes: <c>0</c>, or an optional minus, an
    /// integer part without leading zeros (<c>0</c> only before a point) and an optional fraction without trailing zeros.
    /// </summary>
    internal static bool IsPlain(ReadOnlySpan<char> s)
    {
        int i = s.Length > 0 && s[0] == '-' ? 1 : 0;
        if (i >= s.Length)
        {
            return false;
        }

        if (s[i] == '0')
        {
            i++;
            if (i == s.Length)
            {
                return i == 1; // "0", not "-0"
            }
        }
        else
        {
            if (s[i] is < '1' or > '9')
            {
                return false;
            }

            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == s.Length)
            {
                return true;
            }
        }

        if (s[i] != '.')
        {
            return false;
        }

        int fraction = ++i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        return i == s.Length && i > fraction && s[^1] != '0';
    }

    /// <summary>Plain decimal notation without exponent or trailing zeros, as DynamoDB returns numbers.</summary>
    public override string ToString()
    {
        if (Mantissa.IsZero)
        {
            return "0";
        }

        BigInteger magnitude = BigInteger.Abs(Mantissa);
        string digits = magnitude <= long.MaxValue
            ? ((long)magnitude).ToString(CultureInfo.InvariantCulture) // the same digits, without BigInteger's formatting
            : magnitude.ToString(CultureInfo.InvariantCulture);
        string sign = Mantissa.Sign < 0 ? "-" : string.Empty;
        if (Exponent >= 0)
        {
            return sign + digits + new string('0', Exponent);
        }

        int point = digits.Length + Exponent;
        return point > 0
            ? sign + digits[..point] + "." + digits[point..]
            : sign + "0." + new string('0', -point) + digits;
    }

    /// <summary>Decimal digits of a non-zero mantissa's magnitude (without making its text when it fits a long).</summary>
    private static int DigitCount(BigInteger mantissa)
    {
        BigInteger magnitude = BigInteger.Abs(mantissa);
        if (magnitude <= long.MaxValue)
        {
            long n = (long)magnitude;
            int digits = 1;
            while (n >= 10)
            {
                n /= 10;
                digits++;
            }

            return digits;
        }

        return magnitude.ToString(CultureInfo.InvariantCulture).Length;
    }

    private static DynamoNumber Create(BigInteger mantissa, long exponent)
    {
        if (mantissa.IsZero)
        {
            return default;
        }

        while (mantissa % 10 == 0)
        {
            mantissa /= 10;
            exponent++;
        }

        int digits = DigitCount(mantissa);
        long firstDigitExponent = exponent + digits - 1;
        if (firstDigitExponent >= 126)
        {
            throw DynamoError.Validation("Number overflow. Attempting to store a number with magnitude larger than supported range");
        }

        if (firstDigitExponent < -130)
        {
            throw DynamoError.Validation("Number underflow. Attempting to store a number with magnitude smaller than supported range");
        }

        return new DynamoNumber(mantissa, (int)exponent);
    }
}

/// <summary>The keys of a map in ordinal order, as the model lists and hashes them (without LINQ's sorter).</summary>
internal static class OrdinalKeys
{
    public static string[] Of<T>(IReadOnlyDictionary<string, T> map)
    {
        if (map is StoredItem stored)
        {
            return [.. stored.Keys]; // stored in ordinal order, read without decoding the values
        }

        string[] keys = new string[map.Count];
        int i = 0;
        foreach (KeyValuePair<string, T> kv in map)
        {
            keys[i++] = kv.Key;
        }

        // Maps read back from the model are built in ordinal order already; checking is cheaper than sorting them again.
        for (int k = 1; k < keys.Length; k++)
        {
            if (string.CompareOrdinal(keys[k - 1], keys[k]) > 0)
            {
                Array.Sort(keys, StringComparer.Ordinal);
                break;
            }
        }

        return keys;
    }
}
