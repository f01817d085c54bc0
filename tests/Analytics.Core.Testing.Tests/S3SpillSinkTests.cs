using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The S3 spill sink on the DynamoDB and S3 models, in virtual time: what a spill object holds (only the samples past
/// each partition key's watermark, or the whole pair marked outcomeUnknown when its item could not be read or its put
/// was ambiguous), its key and content type, when a spill counts as written, and how requests are retried.
/// Batches are spilled by the processor (old records, throttled puts); see <see cref="SpillWrites"/>.
/// </summary>
public class S3SpillSinkTests
{
    private static string Seq(int n) => TestEvents.Seq(n);

    /// <summary>
    /// A put of an earlier attempt landed between the live sink's read and the spill: the spill keeps of a decided pair
    /// only the samples strictly past both the shard's watermark and their partition key's, and drops a pair that has
    /// nothing left.
    /// </summary>
    [Fact]
    public void DecidedPair_KeepsOnlySamplesPastTheShardWatermarkAndTheirKeysMark_AndACoveredPairIsDropped()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1), (10, "d", "beta", 10));
        world.BeforeSpill = async () =>
        {
            // alpha: a sample at the shard watermark (6) or at its key's mark (b: 8) is in the item already.
            await world.SetMarksAsync("alpha", Seq(6), ("a", Seq(4)), ("b", Seq(8)));
            // beta: every sample is covered by its key's mark, none by the shard's.
            await world.SetMarksAsync("beta", null, ("d", Seq(11)));
        };

        BatchSummary summary = world.Invoke(
            true,
            (1, "a", "alpha", 1), (2, "b", "alpha", 2), (3, "c", "alpha", 3), (4, "a", "alpha", 4), (5, "b", "alpha", 5),
            (6, "c", "alpha", 6), (7, "a", "alpha", 7), (8, "b", "alpha", 8), (9, "c", "alpha", 9), (10, "d", "beta", 10), (11, "d", "beta", 11));

        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        Assert.Equal([true], world.Results);
        S3ModelObject stored = Assert.Single(world.Objects());
        Assert.Equal(SpillWrites.Key(1), stored.Key);
        Assert.Equal("application/json", stored.ContentType);
        SpillObjectContent content = SpillWrites.Read(stored);
        Assert.Equal((TestEvents.ShardId, TestEvents.StreamArn, Seq(1)), (content.ShardId, content.EventSourceArn, content.SpillId));
        SpillObjectPair pair = Assert.Single(content.Pairs);
        Assert.Equal("alpha", pair.Key.Metric);
        Assert.Equal(world.Models.DynamoDb.GetItems(SpillRedriveModels.Table).Single(i => i["metric"].S == "alpha")["pk"].S, pair.Key.Pk);
        Assert.False(pair.OutcomeUnknown);
        Assert.Equal([(Seq(7), "a", 7.0), (Seq(9), "c", 9.0)], pair.Samples);
    }

    /// <summary>
    /// The body names the bucket and key the sink put it under, so that a redrive can tell the function's object from a
    /// copy of it elsewhere (which may lack an earlier spill of the shard), whatever the prefix.
    /// </summary>
    [Theory]
    [InlineData("spill", "spill/")]
    [InlineData("/deep/er/", "deep/er/")]
    [InlineData(null, "")]
    public void Body_NamesTheBucketAndKeyItIsWrittenUnder(string? prefix, string expected)
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(prefix);

        world.Invoke(true, (1, "a", "alpha", 1.5), (2, "b", "alpha", 2.5));

        S3ModelObject stored = Assert.Single(world.Objects());
        Assert.Equal(SpillWrites.Key(1, expected), stored.Key);
        SpillObjectContent content = SpillWrites.Read(stored);
        Assert.Equal((SpillRedriveModels.Bucket, stored.Key), (content.Bucket, content.Key));
    }

    /// <summary>An item that does not exist yet holds nothing: its pair is decided, and every sample is spilled.</summary>
    [Fact]
    public void NoItemYet_ThePairIsDecided_WithEverySample()
    {
        using var world = new SpillWrites();

        world.Invoke(true, (1, "a", "alpha", 1.5), (2, "b", "alpha", 2.5), (3, "a", "alpha", 3.5));

        Assert.Equal([true], world.Results);
        SpillObjectPair pair = Assert.Single(SpillWrites.Read(Assert.Single(world.Objects())).Pairs);
        Assert.False(pair.OutcomeUnknown);
        Assert.Equal([(Seq(1), "a", 1.5), (Seq(2), "b", 2.5), (Seq(3), "a", 3.5)], pair.Samples);
    }

    /// <summary>When the item holds every spilled sample already, there is nothing to keep: true, and no object is written.</summary>
    [Fact]
    public void EverySampleInTheTableAlready_ReturnsTrue_AndWritesNothing()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1));
        world.BeforeSpill = () => world.SetMarksAsync("alpha", Seq(3));

        BatchSummary summary = world.Invoke(true, (1, "a", "alpha", 1), (2, "a", "alpha", 2), (3, "b", "alpha", 3));

        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        Assert.Equal([true], world.Results);
        Assert.Empty(world.Objects());
    }

    /// <summary>
    /// A put answered with a server error may have been applied: its pair is spilled whole, outcomeUnknown, although the
    /// item's watermark covers it; a throttled pair of the same batch is decided from its item.
    /// </summary>
    [Fact]
    public void AmbiguousPut_ThePairIsSpilledWholeAndUnknown_AThrottledOneIsDecided()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1), (2, "b", "beta", 2));
        world.Models.Faults.AmbiguousWritesOf = "alpha";
        world.BeforeSpill = () => world.SetMarksAsync("alpha", Seq(9));

        world.Invoke(true, (1, "a", "alpha", 1), (2, "b", "beta", 2), (3, "a", "alpha", 3), (4, "b", "beta", 4));

        Assert.Equal([true], world.Results);
        List<SpillObjectPair> pairs = SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs;
        Assert.Equal(
            [("alpha", true, [(Seq(1), "a", 1.0), (Seq(3), "a", 3.0)]), ("beta", false, [(Seq(4), "b", 4.0)])],
            pairs.OrderBy(p => p.Key.Metric, StringComparer.Ordinal).Select(p => (p.Key.Metric, p.OutcomeUnknown, p.Samples)).ToList(),
            (x, y) => x.Metric == y.Metric && x.OutcomeUnknown == y.OutcomeUnknown && x.Samples.SequenceEqual(y.Samples));

        // The unknown pair leaves the shard's marker: its last sample and its window only (the decided pair adds nothing).
        SpillMarker marker = Assert.IsType<SpillMarker>(world.Marker());
        Assert.Equal(Seq(3), marker.Last);
        Assert.Equal([pairs.Single(p => p.OutcomeUnknown).Key.Sk], marker.Windows!);
    }

    /// <summary>
    /// A retry in another execution environment removes the earlier attempt's unconfirmed spill before it writes. That
    /// attempt's put of a pair whose outcome it left unknown may still land, so the retry's own spill keeps that pair
    /// unknown and whole, although its own table sink saw no ambiguous put and the item's watermark covers the pair (read
    /// as decided, the pair would be dropped, and lost if the held put never lands); the pair that spill decided is
    /// decided again from the item.
    /// </summary>
    [Fact]
    public void ARetrysSpill_KeepsUnknownThePairsTheRemovedSpillLeftUnknown_ThoughItsOwnReadDecidesThem()
    {
        using var world = new SpillWrites();
        (int, string, string, double)[] batch = [(1, "a", "alpha", 1), (2, "b", "beta", 2), (3, "a", "alpha", 3), (4, "b", "beta", 4)];
        world.Invoke(false, (1, "a", "alpha", 1), (2, "b", "beta", 2));
        world.Models.Faults.AmbiguousWritesOf = "alpha";
        world.BeforeSpill = () => world.SetMarksAsync("alpha", Seq(9));
        world.Invoke(true, batch);
        List<SpillObjectPair> first = SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs;
        world.Models.Faults.AmbiguousWritesOf = null;
        world.BeforeSpill = null;

        // The retry's environment: its own table sink, which saw no ambiguous put, and its own spill sink.
        world.Spill = world.CreateSpill(table: world.Models.Sink());
        Assert.True(world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, Seq(1), CancellationToken.None)));
        Assert.Empty(world.SpillObjects());
        world.Invoke(true, batch);

        List<SpillObjectPair> retried = SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs;
        IEnumerable<(string Metric, bool Unknown, string Samples)> Shown(List<SpillObjectPair> pairs) =>
            pairs.OrderBy(p => p.Key.Metric, StringComparer.Ordinal).Select(p => (p.Key.Metric, p.OutcomeUnknown, string.Join(",", p.Samples)));
        Assert.Equal([("alpha", true, $"({Seq(1)}, a, 1),({Seq(3)}, a, 3)"), ("beta", false, $"({Seq(4)}, b, 4)")], Shown(retried));
        Assert.Equal(Shown(first), Shown(retried));
    }

    /// <summary>
    /// Without the table's answer (its read fails, or the sink has no table) nothing is decided: every pair is spilled
    /// whole and outcomeUnknown, even a pair the item covers.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TableNotRead_EveryPairIsSpilledWholeAndUnknown(bool tableMissing)
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1));
        world.BeforeSpill = () => world.SetMarksAsync("alpha", Seq(9));
        world.Spill = tableMissing ? world.CreateSpill(table: world.Models.Sink("missing")) : world.CreateSpill(readTable: false);

        world.Invoke(true, (1, "a", "alpha", 1), (2, "b", "alpha", 2));

        Assert.Equal([true], world.Results);
        SpillObjectPair pair = Assert.Single(SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs);
        Assert.True(pair.OutcomeUnknown);
        Assert.Equal([(Seq(1), "a", 1.0), (Seq(2), "b", 2.0)], pair.Samples);
        Assert.Equal(new SpillMarker(Seq(2), new HashSet<string> { pair.Key.Sk }), world.Marker(), (x, y) => x!.Last == y!.Last && x.Windows!.SetEquals(y.Windows!));
    }

    /// <summary>
    /// Another lane of the shard spills between this spill's read of the marker and its write (ParallelizationFactor
    /// above 1): the write is conditional on what was read, so it fails, the spill reads the marker again and merges into
    /// it. Both spills' windows and the higher last sequence number end up in the marker; an unconditional write would
    /// have dropped the other lane's window, whose later writes would then keep nothing.
    /// </summary>
    [Fact]
    public void AConcurrentSpillRewritesTheMarker_BetweenReadAndWrite_BothAreKept()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1));
        world.Models.Faults.AmbiguousWritesOf = "alpha";
        var other = new SpillMarker(Seq(50), new HashSet<string> { "other-window" });
        bool interleaved = false;
        world.Models.Faults.BeforeS3Request = request =>
        {
            if (!interleaved && request.Method == HttpMethod.Put && request.RequestUri!.AbsolutePath.EndsWith("unresolved.marker", StringComparison.Ordinal))
            {
                interleaved = true;
                string markerKey = request.RequestUri.AbsolutePath[$"/{SpillRedriveModels.Bucket}/".Length..];
                using Amazon.S3.AmazonS3Client direct = world.Models.S3.CreateClient();
                direct.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = SpillRedriveModels.Bucket, Key = markerKey, ContentBody = Encoding.UTF8.GetString(other.ToJson()), UseChunkEncoding = false }).GetAwaiter().GetResult();
            }
        };

        world.Invoke(true, (1, "a", "alpha", 1), (2, "a", "alpha", 2));

        Assert.Equal([true], world.Results);
        Assert.True(interleaved);
        string window = Assert.Single(SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs).Key.Sk;
        SpillMarker marker = Assert.IsType<SpillMarker>(world.Marker());
        Assert.Equal(Seq(50), marker.Last);
        Assert.Equal(new HashSet<string> { window, "other-window" }, marker.Windows!);
    }

    /// <summary>
    /// Another lane rewrites the marker before each of this spill's conditional writes of it, and the wait before the
    /// next merge round outlasts the invocation: the spill is not made (false), although its object was written; the
    /// processor retries the batch, and the retry removes the object. Counted as made, the batch would be checkpointed
    /// with a marker that never named its window, and the live writes would keep nothing that decides it.
    /// </summary>
    [Fact]
    public void TheMarkerRewrittenBeforeEachWrite_AMergeRoundsWaitPastTheDeadline_TheSpillIsNotMade()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1));
        world.Models.Faults.AmbiguousWritesOf = "alpha";
        world.Spill = world.CreateSpill(backoff: TimeSpan.FromHours(1));
        var other = new SpillMarker(Seq(50), new HashSet<string> { "other-window" });
        int rewrites = 0;
        world.Models.Faults.BeforeS3Request = request =>
        {
            if (request.Method == HttpMethod.Put && request.RequestUri!.AbsolutePath.EndsWith("unresolved.marker", StringComparison.Ordinal))
            {
                rewrites++;
                string markerKey = request.RequestUri.AbsolutePath[$"/{SpillRedriveModels.Bucket}/".Length..];
                world.Models.Put(markerKey, Encoding.UTF8.GetString(other.ToJson()));
            }
        };

        BatchSummary summary = world.Invoke(true, (1, "a", "alpha", 1), (2, "a", "alpha", 2));

        Assert.Equal([false], world.Results);
        Assert.Equal(1, rewrites);
        Assert.Single(world.SpillObjects());
        Assert.Equal(new HashSet<string> { "other-window" }, Assert.IsType<SpillMarker>(world.Marker()).Windows!);
        Assert.Equal(SinkOutcome.TimedOut, summary.SpillOutcome);
    }

    /// <summary>
    /// The removal's read of the earlier attempt's spill fails and its retry's wait outlasts the caller's time: the
    /// removal is not confirmed (a cancellation holding the failed read's error, as the other AWS sinks stop), and the
    /// object is still there. Confirmed, the processor would write the batch live while the object stays for the redrive
    /// to apply: counted twice.
    /// </summary>
    [Fact]
    public void RemoveUnconfirmed_ReadFails_AndItsRetryWaitOutlastsTheCaller_IsNotConfirmed_TheObjectStays()
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(backoff: TimeSpan.FromHours(1));
        world.Models.Put(SpillWrites.Key(1), "{}");
        world.Models.Faults.FailSpillReads = true;
        using var caller = new CancellationTokenSource(TimeSpan.FromMinutes(1), world.Models.Clock);

        OperationCanceledException stopped = Assert.ThrowsAny<OperationCanceledException>(() => world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, Seq(1), caller.Token)));

        Assert.NotNull(stopped.InnerException);
        Assert.Equal(1, world.Spill.Retries);
        Assert.Equal([SpillWrites.Key(1)], world.Models.Keys());
    }

    /// <summary>
    /// What the removals remember, for the retries' spills: each removed spill with pairs of unknown outcome, one entry
    /// each (a spill without such pairs, or without an object, adds none), up to 4,096 spills; the removal past that
    /// starts the memory afresh with its own, so a processor that serves a shard for days holds a bounded set.
    /// </summary>
    [Fact]
    public void RemoveUnconfirmed_RemembersEachSpillWithUnknownPairs_UpToItsBound()
    {
        using var world = new SpillWrites();
        world.Invoke(false, (1, "a", "alpha", 1), (2, "b", "beta", 2));
        world.Models.Faults.AmbiguousWritesOf = "alpha";
        world.Invoke(true, (1, "a", "alpha", 1), (2, "b", "beta", 2), (3, "a", "alpha", 3));
        world.Models.Faults.AmbiguousWritesOf = null;
        string withUnknown = Encoding.UTF8.GetString(Assert.Single(world.SpillObjects()).Body.Span);
        Assert.Contains(SpillWrites.Read(Assert.Single(world.SpillObjects())).Pairs, p => p.OutcomeUnknown);
        int remembered = 0;
        bool Remove(int spill) => world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, Seq(spill), CancellationToken.None));

        Assert.True(Remove(1));
        Assert.Equal(++remembered, world.Spill.RememberedSpills);

        // No object, and an object whose pairs are all decided: nothing to remember.
        Assert.True(Remove(2));
        string decided = withUnknown.Replace("\"outcomeUnknown\":true", "\"outcomeUnknown\":false", StringComparison.Ordinal);
        Assert.NotEqual(withUnknown, decided);
        world.Models.Put(SpillWrites.Key(3), decided);
        Assert.True(Remove(3));
        Assert.Equal(remembered, world.Spill.RememberedSpills);

        for (int spill = 4; remembered < S3SpillSink.MaxInheritedSpills; spill++)
        {
            world.Models.Put(SpillWrites.Key(spill), withUnknown);
            Assert.True(Remove(spill));
            Assert.Equal(++remembered, world.Spill.RememberedSpills);
        }

        world.Models.Put(SpillWrites.Key(1_000_000), withUnknown);
        Assert.True(Remove(1_000_000));
        Assert.Equal(1, world.Spill.RememberedSpills);
    }

    /// <summary>A fatal error in the read before the spill (out of memory) is not taken for "DynamoDB does not answer".</summary>
    [Fact]
    public void OutOfMemoryInTheRead_IsNotSwallowed()
    {
        using var world = new SpillWrites();
        world.BeforeSpill = () =>
        {
            world.Models.Faults.ReadFailure = new OutOfMemoryException("test");
            return Task.CompletedTask;
        };

        Assert.Throws<OutOfMemoryException>(() => world.Invoke(true, (1, "a", "alpha", 1)));

        Assert.Empty(world.Results);
        Assert.IsType<OutOfMemoryException>(Assert.Single(world.Errors));
        Assert.Empty(world.Objects());
    }

    /// <summary>
    /// PUTs answered with server errors are retried (each retry counted) until S3 confirms the object, within
    /// MaxAttempts; one failure more and the spill is not written: the last error is thrown, so the invocation's
    /// <c>spillError</c> says why (a bare false left it empty).
    /// </summary>
    [Theory]
    [InlineData(3, true)]
    [InlineData(4, false)]
    public void FailedPuts_AreRetriedWithinMaxAttempts(int failures, bool written)
    {
        using var world = new SpillWrites();
        world.BeforeSpill = () =>
        {
            world.Models.Faults.S3PutsToFail = failures;
            return Task.CompletedTask;
        };

        BatchSummary summary = world.Invoke(true, (1, "a", "alpha", 1));

        Assert.Equal(written ? [true] : [], world.Results);
        Assert.Equal(written ? [] : [HttpStatusCode.InternalServerError], world.Errors.Select(e => Assert.IsType<AmazonS3Exception>(e).StatusCode));
        Assert.Equal(3, world.Spill.Retries);
        Assert.Equal(written ? SinkOutcome.Completed : SinkOutcome.Failed, summary.SpillOutcome);
        Assert.Equal(written, summary.SpillError is null);
        Assert.Equal(written ? [SpillWrites.Key(1)] : [], world.Objects().Select(o => o.Key));
    }

    /// <summary>A put the caller's token cancels counts as not written: false at once, no retry.</summary>
    [Fact]
    public void CancelledDuringThePut_ReturnsFalse_WithoutRetrying()
    {
        using var world = new SpillWrites();
        // The spill's requests: the read of the item (1), then the PUT (2), during which the token is cancelled.
        world.BeforeSpill = () =>
        {
            world.Models.Faults.CancelAfterRequests(1);
            return Task.CompletedTask;
        };

        world.Invoke(true, (1, "a", "alpha", 1));

        Assert.Equal([false], world.Results);
        Assert.Equal(0, world.Spill.Retries);
    }

    /// <summary>
    /// A failed PUT whose backoff outlasts the invocation is not retried: stopped at the deadline with the failed PUT's
    /// error inside (it answered a bare false before, found by review: the line then named nothing), nothing stored, and
    /// the spill's outcome is a time-out (it waited until its time was up) whose error is the PUT's, so the line is an
    /// Error.
    /// </summary>
    [Fact]
    public void BackoffPastTheDeadline_IsATimeOut_NamingTheFailedPut()
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(backoff: TimeSpan.FromHours(1));
        world.BeforeSpill = () =>
        {
            world.Models.Faults.S3PutsToFail = 1;
            return Task.CompletedTask;
        };

        BatchSummary summary = world.Invoke(true, (1, "a", "alpha", 1));

        Assert.Empty(world.Results);
        Assert.NotNull(Assert.IsAssignableFrom<OperationCanceledException>(Assert.Single(world.Errors)).InnerException);
        Assert.Equal(1, world.Spill.Retries);
        Assert.Equal(SinkOutcome.TimedOut, summary.SpillOutcome);
        Assert.NotNull(summary.SpillError);
        Assert.Empty(world.Objects());
    }

    /// <summary>A missing bucket is not transient: the error is thrown at once, without a retry.</summary>
    [Fact]
    public void MissingBucket_Throws_WithoutRetrying()
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(bucket: "missing");

        world.Invoke(true, (1, "a", "alpha", 1));

        Assert.Empty(world.Results);
        Assert.Equal("NoSuchBucket", Assert.IsType<AmazonS3Exception>(Assert.Single(world.Errors)).ErrorCode);
        Assert.Equal(0, world.Spill.Retries);
    }

    /// <summary>The key prefix is the key's first segment; null means none, as empty does.</summary>
    [Theory]
    [InlineData("spill", "spill/")]
    [InlineData("a/b/", "a/b/")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void KeyPrefix_IsTheFirstSegment_NullMeaningNone(string? prefix, string expected)
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(keyPrefix: prefix);

        world.Invoke(true, (5, "a", "alpha", 1));

        Assert.Equal([SpillWrites.Key(5, expected)], world.Objects().Select(o => o.Key));
    }

    /// <summary>The constructor refuses a missing client, an empty bucket, no attempts and negative delays.</summary>
    [Fact]
    public void Constructor_RefusesInvalidArguments()
    {
        using var world = new SpillWrites();
        S3SpillSinkOptions valid = S3SpillSinkOptions.Default with { BucketName = "spills" };

        Assert.Equal("client", Assert.Throws<ArgumentNullException>(() => new S3SpillSink(null!, valid, null)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new S3SpillSink(world.Models.S3Client, S3SpillSinkOptions.Default, null)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new S3SpillSink(world.Models.S3Client, valid with { Retry = valid.Retry with { MaxAttempts = 0 } }, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => new S3SpillSink(world.Models.S3Client, valid with { Retry = valid.Retry with { BaseDelay = TimeSpan.FromTicks(-1) } }, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => new S3SpillSink(world.Models.S3Client, valid with { Retry = valid.Retry with { MaxDelay = TimeSpan.FromTicks(-1) } }, null));
        _ = new S3SpillSink(world.Models.S3Client, valid with { Retry = valid.Retry with { MaxAttempts = 1, BaseDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero } }, null);
    }

    /// <summary>Null arguments are refused before any request.</summary>
    [Fact]
    public async Task NullArguments_AreRefused()
    {
        using var world = new SpillWrites();

        Assert.Equal("spill", (await Assert.ThrowsAsync<ArgumentNullException>(() => world.Spill.WriteAsync(null!, CancellationToken.None))).ParamName);
        Assert.Equal("shardId", (await Assert.ThrowsAsync<ArgumentNullException>(() => world.Spill.RemoveUnconfirmedAsync(null!, TestEvents.StreamArn, Seq(1), CancellationToken.None))).ParamName);
        Assert.Equal("spillId", (await Assert.ThrowsAsync<ArgumentNullException>(() => world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, null!, CancellationToken.None))).ParamName);
        Assert.Equal(0, world.Models.S3.Counters.Requests);
    }

    /// <summary>Removing an unconfirmed spill deletes exactly the object of that spill id (stream "unknown" without an ARN).</summary>
    [Theory]
    [InlineData(TestEvents.StreamArn, "metrics")]
    [InlineData(null, "unknown")]
    public void RemoveUnconfirmed_DeletesTheObjectOfThatSpillId(string? arn, string stream)
    {
        using var world = new SpillWrites();
        string removed = $"spill/{stream}/{TestEvents.ShardId}/{Seq(1)}.json";
        string[] kept = [$"spill/{stream}/{TestEvents.ShardId}/{Seq(2)}.json", $"spill/{(arn is null ? "metrics" : "unknown")}/{TestEvents.ShardId}/{Seq(1)}.json"];
        foreach (string key in kept.Append(removed))
        {
            world.Models.Put(key, "{}");
        }

        Assert.True(world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, arn, Seq(1), CancellationToken.None)));

        Assert.Equal(kept.Order(StringComparer.Ordinal), world.Models.Keys());
        Assert.Equal(0, world.Spill.Retries);
    }

    /// <summary>
    /// A bucket that does not exist holds no spill: the removal is confirmed at once, without a retry (its read and its
    /// delete both meet NoSuchBucket), so a missing bucket does not keep a retried batch from the table.
    /// </summary>
    [Fact]
    public void RemoveUnconfirmed_MissingBucket_IsConfirmed_WithoutRetrying()
    {
        using var world = new SpillWrites();
        world.Spill = world.CreateSpill(bucket: "missing");

        Assert.True(world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, Seq(1), CancellationToken.None)));

        Assert.Equal(0, world.Spill.Retries);
        Assert.Equal(0, world.Spill.RememberedSpills);
    }

    /// <summary>A delete answered with server errors is retried MaxAttempts times, then not confirmed: the last error is thrown.</summary>
    [Fact]
    public void RemoveUnconfirmed_FailingDeletes_AreRetried_ThenTheLastErrorIsThrown()
    {
        using var world = new SpillWrites();
        world.Models.Put(SpillWrites.Key(1), "{}");
        world.Models.Faults.FailSpillDeletes = true;

        AmazonS3Exception thrown = Assert.ThrowsAny<AmazonS3Exception>(() => world.Models.Pump(world.Spill.RemoveUnconfirmedAsync(TestEvents.ShardId, TestEvents.StreamArn, Seq(1), CancellationToken.None)));
        Assert.Equal(HttpStatusCode.InternalServerError, thrown.StatusCode);

        Assert.Equal(3, world.Spill.Retries);
        Assert.Equal([SpillWrites.Key(1)], world.Models.Keys());
    }
}
