namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A scripted rule that lacks what its action needs, or carries a setting of another action, is refused when the
/// handler is made: a body on a raise or ms on a report did nothing without a word (found by review of the replay
/// command, whose rules become these).
/// </summary>
public sealed class ScriptedHandlerArgumentTests
{
    public static TheoryData<ScriptRule, string> Refused => new()
    {
        { new ScriptRule(ScriptAction.Raise), "A Raise rule needs whenData." },
        { new ScriptRule(ScriptAction.Report), "A Report rule needs whenData." },
        { new ScriptRule(ScriptAction.Respond), "A respond rule needs a body." },
        { new ScriptRule(ScriptAction.SleepMs, Ms: -1), "A sleepMs rule needs ms of 0 or more." },
        { new ScriptRule(ScriptAction.Raise, "x", Body: "{}"), "Only a respond rule has a body; this rule is Raise." },
        { new ScriptRule(ScriptAction.SleepMs, Body: "{}", Ms: 5), "Only a respond rule has a body; this rule is SleepMs." },
        { new ScriptRule(ScriptAction.Report, "x", Ms: 5), "Only a sleepMs rule has ms; this rule is Report." },
        { new ScriptRule(ScriptAction.Respond, Body: "{}", Ms: 5), "Only a sleepMs rule has ms; this rule is Respond." },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void ARuleWithoutWhatItsActionNeeds_OrWithAnotherActionsSetting_IsRefused(ScriptRule rule, string message)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new ScriptedHandler(TimeProvider.System, [rule]));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
        Assert.Equal("rules", e.ParamName);
    }

    [Fact]
    public void EveryActionWithItsOwnSettings_AndWhenDataOnAny_IsAccepted()
    {
        ScriptRule[] rules =
        [
            new(ScriptAction.Raise, "x"),
            new(ScriptAction.Report, "y"),
            new(ScriptAction.Respond, Body: "{}"),
            new(ScriptAction.Respond, "z", Body: "{}"),
            new(ScriptAction.SleepMs, Ms: 0),
            new(ScriptAction.SleepMs, "w", Ms: 5),
        ];

        Assert.NotNull(new ScriptedHandler(TimeProvider.System, rules));
    }
}
