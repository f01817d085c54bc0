using System.Globalization;
using System.Net;
using System.Reflection;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A redrive run again after one that was interrupted, that raced another run, or whose table was restored under the same
/// name: the table ends equal to the truth computed from the records, and the run says done only when it is.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveRerunTests(LocalServersFixture servers)
{
    public enum Fault
    {
        /// <summary>The run is cancelled just before the request.</summary>
        CancelBefore,

        /// <summary>The request is not made, and the client sees a 500.</summary>
        Error,

        /// <summary>The request is made, then the run is cancelled (an operator's Ctrl-C, a host that stops).</summary>
        CancelAfter,

        /// <summary>The request is made, and its answer is lost: the client sees a 500.</summary>
        LostAnswer,
    }

    /// <summary>Where the first run is stopped.</summary>
    public enum At
    {
        /// <summary>The destination phase's first write to the table.</summary>
        DestinationWrite,

        /// <summary>The first marker written.</summary>
        Marker,
    }

    private static readonly double[] s_both = [1, 2, 4, 8];
    private static readonly double[] s_later = [16, 32, 64, 128];

    /// <summary>
    /// The scene the rules were found on: shard 0, key a, series m: records 1-4 spilled and given up (both places),
    /// records 5-8 given up only. The spill phase applies 1-4 (rk = 4); the destination phase applies 5-8 (wk = 8,
    /// dr 5:8). Stopped before the marker of "both" was written, the run after it found w = 8 above b = 4 and reported
    /// 1-4 undecided on every later run, although the table held them exactly once.
    /// </summary>
    [Theory]
    [InlineData(Fault.CancelAfter, At.DestinationWrite)]
    [InlineData(Fault.CancelBefore, At.Marker)]
    [InlineData(Fault.Error, At.Marker)]
    public async Task InterruptedAfterTheSpillPhaseMarkedTheBatch_TheRerunFindsItApplied(Fault fault, At at)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-rk");
        await scene.PutSpillAsync(RedriveObjects.SpillKey(0), RedriveObjects.SpillBody(0, "m", "a", s_both));
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "both"), RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "later"), RedriveObjects.InvocationRecord(0, 5, [.. s_later.Select((v, i) => RedriveObjects.Record(0, i + 5, "a", "m", v))]));

        await InterruptedRunAsync(scene, fault, at);

        RedriveRunReport rerun = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, new StringWriter(), CancellationToken.None);
        Assert.Equal(Show(Truth(("m", [.. s_both, .. s_later]))), Show(await TableAsync(scene)));
        Assert.Equal(0, rerun.Destination.Sum(r => r.Undecided + r.Left));
        Assert.True(rerun.Done, RedriveRun.Format(rerun.Destination));
    }

    /// <summary>
    /// Two objects of one key given up only (1-4, 5-8): the first run applies both (dr 1:4 and 5:8, wk = 8) and is
    /// stopped before its first marker. The run after it found w = 8 above the first object's b = 4.
    /// </summary>
    [Theory]
    [InlineData(Fault.CancelBefore, At.Marker)]
    [InlineData(Fault.Error, At.Marker)]
    public async Task InterruptedAfterTwoObjectsOfAKeyWereApplied_TheRerunFindsBothApplied(Fault fault, At at)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-dr");
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "o1"), RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "o2"), RedriveObjects.InvocationRecord(0, 5, [.. s_later.Select((v, i) => RedriveObjects.Record(0, i + 5, "a", "m", v))]));

        await InterruptedRunAsync(scene, fault, at);

        RedriveRunReport rerun = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, new StringWriter(), CancellationToken.None);
        Assert.Equal(Show(Truth(("m", [.. s_both, .. s_later]))), Show(await TableAsync(scene)));
        Assert.Equal(0, rerun.Destination.Sum(r => r.Undecided + r.Left));
        Assert.True(rerun.Done, RedriveRun.Format(rerun.Destination));
    }

    /// <summary>
    /// The limit of the rules above: a batch given up only (1-4) that no attempt applied, and a later batch of the key
    /// spilled (5-8). The spill phase sets rk = 8, past 1-4 without applying them. Records at or below rk are not all in
    /// the item: only those of the spill that set it are. So 1-4 stay undecided (the sink could not apply them either),
    /// and the run never says done with the table short.
    /// </summary>
    [Fact]
    public async Task ALaterSpillOfTheKey_DoesNotMakeAnEarlierGivenUpBatchApplied()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-guard");
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "given-up"), RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutSpillAsync(RedriveObjects.SpillKey(0, firstRecord: 5), RedriveObjects.SpillObject(0, 5, [("m", s_later.Select((v, i) => (i + 5, "a", v)))]));

        var output = new StringWriter();
        RedriveRunReport run = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);

        Assert.Equal(Show(Truth(("m", s_later))), Show(await TableAsync(scene)));
        Assert.False(run.Done, output.ToString());
        RedriveObjectResult given = Assert.Single(run.Destination);
        Assert.Equal(4, given.Undecided);
        Assert.Equal(0, given.AlreadyApplied);
    }

    /// <summary>
    /// Two destination redrives at once, the first given one object of a key (1-4), the second the whole prefix (1-4 and
    /// 5-8): the second applies 5-8 between the first's write of 1-4 and its read of the item after it. The first then
    /// found the key's watermark at 8, past what it applied, and reported 1-4 undecided; its own range (dr 1:4) in the item
    /// says its write applied them. (The second was given 5-8 alone before a run narrowed to a later object of a shard
    /// held back while an earlier one is not finished, <see cref="RedriveCarelessOperatorTests"/>; the whole prefix
    /// meets the same interleaving.)
    /// </summary>
    [Fact]
    public async Task AnotherRunAppliesALaterObjectOfTheKeyDuringTheRun_TheRecordsItAppliedStayApplied()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-after");
        string first = RedriveObjects.DestinationKey(0, "o1");
        string second = RedriveObjects.DestinationKey(0, "o2");
        await scene.PutDestinationAsync(first, RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutDestinationAsync(second, RedriveObjects.InvocationRecord(0, 5, [.. s_later.Select((v, i) => RedriveObjects.Record(0, i + 5, "a", "m", v))]));

        IReadOnlyList<RedriveObjectResult>? other = null;
        bool written = false;
        var state = new FaultProxy.Shared
        {
            // Before the first read of an item after the run's write: the read after the run.
            Before = (method, request) =>
            {
                if (method == nameof(IAmazonDynamoDB.PutItemAsync))
                {
                    written = true;
                }

                return written && method == nameof(IAmazonDynamoDB.GetItemAsync);
            },
            Action = async () => other = await Destination(scene, "aws/lambda/").RunAsync(CancellationToken.None),
        };

        IReadOnlyList<RedriveObjectResult> results = await Destination(scene, first, state).RunAsync(CancellationToken.None);

        Assert.NotNull(other);
        Assert.Equal(Show(Truth(("m", [.. s_both, .. s_later]))), Show(await TableAsync(scene)));
        RedriveObjectResult one = Assert.Single(results);
        Assert.True(one.Complete, RedriveRun.Format(results));
        Assert.Equal(4, one.Applied);
        Assert.Equal(2, other.Count);
        Assert.All(other, o => Assert.True(o.Complete, RedriveRun.Format(other)));
        Assert.Equal(4, other.Single(o => o.Key == second).Applied);
    }

    /// <summary>
    /// A redrive, then the table restored from a backup taken before it (deleted and created again under the same name).
    /// The markers named the table by name only, so the run after the restore said every object was done by an earlier
    /// run, exit 0, while the table held none of their records.
    /// </summary>
    [Fact]
    public async Task TheTableRestoredUnderTheSameName_TheObjectsAreRedrivenAgain()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-restore");
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "o1"), RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(1, "g"), RedriveObjects.InvocationRecord(1, [.. s_later.Select((v, i) => RedriveObjects.Record(1, i + 1, "b", "g", v))]));
        (int exit, string output) = await scene.RedriveAsync(scene.Spill, scene.Failure);
        Assert.True(exit == 0, output);
        string expected = Show(Truth(("m", s_both), ("g", s_later)));
        Assert.Equal(expected, Show(await TableAsync(scene)));

        await RecreateAsync(scene);
        Assert.Empty(await TableAsync(scene));

        (exit, output) = await scene.RedriveAsync(scene.Spill, scene.Failure);
        Assert.True(exit == 0, output);
        Assert.Equal(expected, Show(await TableAsync(scene)));
        Assert.Contains("as it was when created at", output, StringComparison.Ordinal);
        Assert.DoesNotContain("done by an earlier run", output, StringComparison.Ordinal);

        // And the markers now name the restored table: a run after it does nothing again.
        (exit, output) = await scene.RedriveAsync(scene.Spill, scene.Failure);
        Assert.True(exit == 0, output);
        Assert.Equal(2, output.Split('\n').Count(l => l.Contains("(done by an earlier run)", StringComparison.Ordinal)));
        Assert.Equal(expected, Show(await TableAsync(scene)));
    }

    /// <summary>
    /// The spill phase's view of finished destination objects: a batch in both places whose destination object a run with
    /// another spill bucket applied and marked done, then the table restored under the same name. The spill's records
    /// were counted as "in a finished destination object" and the spill was left, on every run, as possibly doubled,
    /// although the restored table holds nothing of them.
    /// </summary>
    [Fact]
    public async Task TheTableRestoredUnderTheSameName_ASpillOfAFinishedObjectIsApplied()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rerun-restore-spill");
        await scene.PutSpillAsync(RedriveObjects.SpillKey(0), RedriveObjects.SpillBody(0, "m", "a", s_both));
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "both"), RedriveObjects.InvocationRecord(0, [.. s_both.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        (int exit, string output) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        Assert.True(exit == 0, output);
        Assert.Equal(1, await scene.CountAsync(scene.Spill, "spill/"));

        await RecreateAsync(scene);

        (exit, output) = await scene.RedriveAsync(scene.Spill, scene.Failure);
        Assert.True(exit == 0, output);
        Assert.Equal(Show(Truth(("m", s_both))), Show(await TableAsync(scene)));
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
    }

    /// <summary>Runs redrive once, stopped as <paramref name="fault"/> says at the first request <paramref name="at"/> names.</summary>
    private static async Task InterruptedRunAsync(RedriveScene scene, Fault fault, At at)
    {
        var state = new FaultProxy.Shared
        {
            Mode = fault,
            After = at == At.Marker
                ? (method, request) => request is PutObjectRequest put && put.Key.StartsWith(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal)
                : (method, request) => request is PutItemRequest put && put.Item.ContainsKey("dr"),
        };
        try
        {
            await RedriveRun.RunAsync(Options(scene), Wrap<IAmazonS3>(scene.S3, state), Wrap<IAmazonDynamoDB>(scene.DynamoDb, state), new StringWriter(), state.Cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or AmazonS3Exception or AmazonDynamoDBException)
        {
            // The interruption.
        }

        Assert.True(state.Fired, "the fault was never reached");
    }

    /// <summary>Deletes the table and creates it again under its name (a restore from a backup taken before any redrive).</summary>
    private static async Task RecreateAsync(RedriveScene scene)
    {
        DateTime? before = (await scene.DynamoDb.DescribeTableAsync(scene.Table)).Table.CreationDateTime;
        await scene.DynamoDb.DeleteTableAsync(scene.Table);
        while (true)
        {
            try
            {
                await scene.DynamoDb.DescribeTableAsync(scene.Table);
                await Task.Delay(50);
            }
            catch (ResourceNotFoundException)
            {
                break;
            }
        }

        // dynalite keeps the creation time to the millisecond: make sure the new table's cannot be the old one's.
        await Task.Delay(20);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await DynamoDbTable.CreateAsync(scene.DynamoDb, scene.Table, TimeProvider.System, cts.Token);
        DateTime? after = (await scene.DynamoDb.DescribeTableAsync(scene.Table)).Table.CreationDateTime;
        Assert.NotNull(before);
        Assert.NotEqual(before, after);
    }

    private static DestinationRedrive Destination(RedriveScene scene, string prefix, FaultProxy.Shared? state = null) =>
        new(
            state is null ? scene.S3 : Wrap<IAmazonS3>(scene.S3, state),
            state is null ? scene.DynamoDb : Wrap<IAmazonDynamoDB>(scene.DynamoDb, state),
            new DestinationRedriveOptions(scene.Failure, prefix, scene.Table, ProcessorOptions.Default, scene.Spill));

    private static RedriveRunOptions Options(RedriveScene scene) =>
        new(scene.Table, scene.Spill, "spill", TimeSpan.Zero, scene.Failure, "aws/lambda/", scene.Spill, ProcessorOptions.Default)
        {
            DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { MaxAttempts = 3 },
        };

    private static async Task<Dictionary<string, (long Count, double Sum)>> TableAsync(RedriveScene scene) =>
        (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table, ConsistentRead = true })).Items.Where(i => i["sk"].S != "lease").ToDictionary(
            i => i["pk"].S + " " + i["sk"].S,
            i => (long.Parse(i["count"].N, CultureInfo.InvariantCulture), double.Parse(i["sum"].N, CultureInfo.InvariantCulture)));

    /// <summary>The truth: each series' count and sum over its records' values.</summary>
    private static Dictionary<string, (long Count, double Sum)> Truth(params (string Metric, double[] Values)[] series) =>
        series.ToDictionary(s => RedriveObjects.Series(s.Metric) + " 2025-01-01T00:00:00.000Z", s => ((long)s.Values.Length, s.Values.Sum()));

    private static string Show(Dictionary<string, (long Count, double Sum)> table) =>
        string.Join("; ", table.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Key}={x.Value.Count}/{x.Value.Sum}")));

    private static TI Wrap<TI>(TI target, FaultProxy.Shared state)
        where TI : class
    {
        TI proxy = DispatchProxy.Create<TI, FaultProxy>();
        var p = (FaultProxy)(object)proxy;
        p.Target = target;
        p.State = state;
        return proxy;
    }

    /// <summary>
    /// Passes every call of a client on, except the first whose method and request <see cref="Shared.After"/> matches
    /// (faulted as <see cref="Shared.Mode"/> says), and runs <see cref="Shared.Action"/> before the first that
    /// <see cref="Shared.Before"/> matches.
    /// </summary>
    public class FaultProxy : DispatchProxy
    {
        public object Target { get; set; } = null!;

        public Shared State { get; set; } = null!;

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            object? request = args is { Length: > 0 } ? args[0] : null;
            if (method!.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>) &&
                State.Take(method.Name, request) is { } kind)
            {
                MethodInfo wrap = typeof(FaultProxy).GetMethod(nameof(WrapAsync), BindingFlags.NonPublic | BindingFlags.Instance)!.MakeGenericMethod(method.ReturnType.GetGenericArguments()[0]);
                return wrap.Invoke(this, [method, args, kind]);
            }

            try
            {
                return method.Invoke(Target, args);
            }
            catch (TargetInvocationException e)
            {
                throw e.InnerException!;
            }
        }

        private async Task<T> WrapAsync<T>(MethodInfo method, object?[]? args, bool before)
        {
            if (before)
            {
                await State.Action!();
                return await (Task<T>)method.Invoke(Target, args)!;
            }

            switch (State.Mode)
            {
                case Fault.CancelBefore:
                    await State.Cts.CancelAsync();
                    throw new OperationCanceledException(State.Cts.Token);
                case Fault.Error:
                    throw Error();
            }

            await (Task<T>)method.Invoke(Target, args)!;
            if (State.Mode == Fault.CancelAfter)
            {
                await State.Cts.CancelAsync();
                throw new OperationCanceledException(State.Cts.Token);
            }

            throw Error();
        }

        private Exception Error() =>
            Target is IAmazonS3
                ? new AmazonS3Exception("injected", Amazon.Runtime.ErrorType.Receiver, "InternalError", "r", HttpStatusCode.InternalServerError)
                : new AmazonDynamoDBException("injected", Amazon.Runtime.ErrorType.Receiver, "InternalServerError", "r", HttpStatusCode.InternalServerError);

        public sealed class Shared
        {
            private readonly Lock _lock = new();

            public Fault Mode { get; init; }

            public CancellationTokenSource Cts { get; } = new();

            public Func<string, object?, bool>? After { get; init; }

            public Func<string, object?, bool>? Before { get; init; }

            public Func<Task>? Action { get; init; }

            public bool Fired { get; private set; }

            /// <summary>Null: pass the call on; true: run the action before it; false: fault it after it.</summary>
            public bool? Take(string method, object? request)
            {
                lock (_lock)
                {
                    if (Fired)
                    {
                        return null;
                    }

                    if (Before?.Invoke(method, request) == true)
                    {
                        Fired = true;
                        return true;
                    }

                    if (After?.Invoke(method, request) == true)
                    {
                        Fired = true;
                        return false;
                    }

                    return null;
                }
            }
        }
    }
}
