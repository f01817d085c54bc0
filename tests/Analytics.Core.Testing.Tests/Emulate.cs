using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>Small helpers to run a scenario and read its outputs.</summary>
internal static class Emulate
{
    public static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Two partition keys that a stream of two shards puts on different shards.</summary>
    public static (string First, string Second) KeysOnTwoShards()
    {
        const string First = "k0";
        string second = Enumerable.Range(1, 50).Select(i => "k" + i).First(k => StreamEmulator.ShardFor(k, 2) != StreamEmulator.ShardFor(First, 2));
        return (First, second);
    }

    public static EmulationRecording Run(EmulatorScenario scenario, Func<VirtualClock, ILambdaHandler> handler, out EmulationSummary summary)
    {
        var recording = new EmulationRecording();
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => handler(emulator.Clock));
        summary = emulator.Run(recording);
        return recording;
    }

    public static EmulationRecording Run(EmulatorScenario scenario, Func<VirtualClock, ILambdaHandler> handler) => Run(scenario, handler, out _);

    public static EmulationRecording Scripted(EmulatorScenario scenario, params ScriptRule[] rules) =>
        Run(scenario, clock => new ScriptedHandler(clock, rules));

    public static EmulatorScenario Texts(params string[] texts) => new()
    {
        StartTime = Start,
        DurationSeconds = 30,
        Records = texts.Select(t => ExplicitRecord.Text("key", t, 0)).ToArray(),
    };

    public static ILambdaHandler Succeed(Action<JsonElement>? onEvent = null) => new DelegateHandler((e, _, _) =>
    {
        if (onEvent is not null)
        {
            using JsonDocument document = JsonDocument.Parse(e);
            onEvent(document.RootElement.Clone());
        }

        return Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>());
    });

    public static string[] Texts(JsonElement @event) =>
        @event.GetProperty("Records").EnumerateArray()
            .Select(r => Encoding.UTF8.GetString(r.GetProperty("kinesis").GetProperty("data").GetBytesFromBase64()))
            .ToArray();

    public static string[] DeliveredTexts(EmulationRecording recording, InvocationReport invocation)
    {
        Dictionary<string, string> bySequence = recording.Records.ToDictionary(r => r.SequenceNumber, r => Encoding.UTF8.GetString(r.Data.Span));
        return invocation.Records.Select(r => bySequence[r.SequenceNumber]).ToArray();
    }
}
