using System.Reflection;
using System.Runtime.CompilerServices;

namespace Analytics.Core.Tests;

/// <summary>
/// Rules of the library's surface that the approval files cannot state: they hold for every type of the three
/// packages, so a new member that breaks one fails here, not in a consumer's review.
/// </summary>
public class PublicApiShapeTests
{
    private static readonly Assembly[] s_packages =
        [typeof(KinesisBatchProcessor).Assembly, typeof(DynamoDbAggregateSink).Assembly, typeof(LoggerJsonLogWriter).Assembly];

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> AllTypes() =>
        s_packages.SelectMany(a => a.GetTypes()).Where(t => !t.IsDefined(typeof(CompilerGeneratedAttribute)) && !t.Name.Contains('<', StringComparison.Ordinal));

    private static IEnumerable<Type> PublicTypes() => s_packages.SelectMany(a => a.GetExportedTypes());

    [Fact]
    public void PublicTypes_HaveNoNumericConstants()
    {
        // A const is compiled into every caller: a limit that may change is a property (or internal).
        string[] constants = [.. PublicTypes()
            .Where(t => !t.IsEnum)
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(f => f.IsLiteral && f.FieldType != typeof(string))
            .Select(f => $"{f.DeclaringType!.Name}.{f.Name}")];

        Assert.Empty(constants);
    }

    [Fact]
    public void TryMethods_ReturnBool()
    {
        // As in the BCL: TryX returns whether it succeeded, results come as out parameters. Private helpers aside.
        string[] offenders = [.. AllTypes()
            .SelectMany(t => t.GetMethods(Declared))
            .Where(m => !m.IsPrivate && m.Name.StartsWith("Try", StringComparison.Ordinal) && m.Name.Length > 3 && char.IsUpper(m.Name[3]))
            .Where(m => m.ReturnType != typeof(bool) && m.ReturnType != typeof(Task<bool>) && m.ReturnType != typeof(ValueTask<bool>))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name} returns {m.ReturnType.Name}")];

        Assert.Empty(offenders);
    }

    [Fact]
    public void PublicEnumerators_AreForeachable()
    {
        // One iteration pattern: whatever moves through items exposes MoveNext, Current and GetEnumerator.
        Type[] enumerators = [.. PublicTypes().Where(t => t.GetMethod("MoveNext", Type.EmptyTypes) is not null)];
        Assert.Contains(typeof(SeriesKey.DimensionEnumerator), enumerators);
        Assert.Contains(typeof(KplRecordReader), enumerators);
        foreach (Type t in enumerators)
        {
            Assert.True(t.GetProperty("Current") is not null, $"{t.Name} has no Current");
            Assert.True(t.GetMethod("GetEnumerator", Type.EmptyTypes)?.ReturnType == t, $"{t.Name} has no GetEnumerator returning itself");
        }

        string[] readNext = [.. PublicTypes().SelectMany(t => t.GetMethods()).Where(m => m.Name is "TryReadNext" or "GetDimensions").Select(m => m.Name)];
        Assert.Empty(readNext);
    }

    [Fact]
    public void ReasonAndDetail_AreTheOnlyNamesOfAPoisonVerdict()
    {
        // Every property typed PoisonReason (internal ones too: the parser's) is called Reason, and its text partner
        // Detail (no Error/ErrorMessage pair).
        string[] misnamed = [.. AllTypes()
            .SelectMany(t => t.GetProperties(Declared))
            .Where(p => p.PropertyType == typeof(PoisonReason) && p.Name != "Reason")
            .Select(p => $"{p.DeclaringType!.Name}.{p.Name}")];
        Assert.Empty(misnamed);

        string[] misnamedParameters = [.. PublicTypes()
            .SelectMany(t => t.GetMethods())
            .Where(m => !m.IsSpecialName) // property setters take "value"
            .SelectMany(m => m.GetParameters().Select(p => (Method: m, Parameter: p)))
            .Where(x => x.Parameter.ParameterType.GetElementType() == typeof(PoisonReason) || x.Parameter.ParameterType == typeof(PoisonReason))
            .Where(x => x.Parameter.Name != "reason")
            .Select(x => $"{x.Method.DeclaringType!.Name}.{x.Method.Name}({x.Parameter.Name})")];
        Assert.Empty(misnamedParameters);

        // Its partner is a non-null string called Detail (empty when there is nothing wrong).
        var nullability = new NullabilityInfoContext();
        PropertyInfo[] details = [typeof(RecordVerdict).GetProperty("Detail")!, typeof(QuarantinedRecord).GetProperty("Detail")!];
        Assert.All(details, p => Assert.Equal(NullabilityState.NotNull, nullability.Create(p).ReadState));
        ParameterInfo kplDetail = typeof(KplAggregate).GetMethod(nameof(KplAggregate.TryRead))!.GetParameters()[3];
        Assert.Equal("detail", kplDetail.Name);
        Assert.Equal(NullabilityState.NotNull, nullability.Create(kplDetail).ReadState);
    }
}
