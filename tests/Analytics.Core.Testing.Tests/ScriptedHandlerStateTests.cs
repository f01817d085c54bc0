using System.Text;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The scripted handler hands a tumbling window's state back unchanged. Without rules that read data it looks for the
/// state without reading the records: these events check that shortcut against the ways "state" can be spelled.
/// </summary>
public class ScriptedHandlerStateTests
{
    private static string Respond(string utf8Event)
    {
        var handler = new ScriptedHandler(new VirtualClock(Emulate.Start), []);
        ReadOnlyMemory<byte> response = handler.InvokeAsync(Encoding.UTF8.GetBytes(utf8Event), Emulate.Start.AddMinutes(1), CancellationToken.None).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(response.Span);
    }

    private const string Record = "{\"kinesis\":{\"partitionKey\":\"k\",\"data\":\"YQ==\",\"sequenceNumber\":\"1\"}}";

    [Fact]
    public void AnEventWithoutAWindow_GetsNoState()
    {
        Assert.Equal("{\"batchItemFailures\":[]}", Respond("{\"Records\":[" + Record + "]}"));
    }

    [Fact]
    public void AWindowsState_IsHandedBack()
    {
        Assert.Equal("{\"batchItemFailures\":[],\"state\":{\"n\":1}}", Respond("{\"Records\":[" + Record + "],\"state\":{\"n\":1},\"isFinalInvokeForWindow\":false}"));
    }

    [Fact]
    public void AStateSpelledWithAnEscape_IsStillFound()
    {
        // "\u0073tate" is the name state: JSON allows any character escaped.
        Assert.Equal("{\"batchItemFailures\":[],\"state\":{\"n\":2}}", Respond("{\"Records\":[" + Record + "],\"\\u0073tate\":{\"n\":2}}"));
    }

    [Fact]
    public void TheWordStateInARecord_IsNotAState()
    {
        string record = Record.Replace("\"partitionKey\":\"k\"", "\"partitionKey\":\"state\"", StringComparison.Ordinal);
        Assert.Equal("{\"batchItemFailures\":[]}", Respond("{\"Records\":[" + record + "]}"));
    }
}
