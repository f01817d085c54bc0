using System.Globalization;
using System.Reflection;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The table's redrive lease on the DynamoDB model and a virtual clock: when it is renewed and to what, what a run that
/// finds it held is told, what happens to a run that stalled past its expiry, and what releasing it may swallow.
/// </summary>
public sealed class RedriveLeaseTests : IDisposable
{
    private const string Table = "aggregates";
    private static readonly TimeSpan s_renewAfter = TimeSpan.FromMinutes(2);
    private readonly VirtualClock _clock = new(Emulate.Start);
    private readonly DynamoDbModel _model;
    private readonly AmazonDynamoDBClient _client;

    public RedriveLeaseTests()
    {
        _model = new DynamoDbModel(_clock, DynamoDbModelOptions.Default);
        _model.CreateTable(Table, "pk", "sk");
        _client = _model.CreateClient();
    }

    /// <summary>
    /// A renewal asked for before two minutes have passed sends nothing; at two minutes it moves the expiry to ten
    /// minutes from then, and the next two minutes count from that renewal.
    /// </summary>
    [Fact]
    public async Task Renewal_WaitsTwoMinutes_ThenMovesTheExpiryToTenMinutesFromNow()
    {
        RedriveLease lease = await TakeAsync();
        DateTimeOffset taken = _clock.GetUtcNow();
        Assert.Equal(taken + RedriveLease.Duration, StoredExpiry());

        _clock.Advance(s_renewAfter - TimeSpan.FromMilliseconds(1));
        long requests = _model.Counters.Requests;
        await lease.RenewAsync(CancellationToken.None);
        Assert.Equal(requests, _model.Counters.Requests);
        Assert.Equal(taken + RedriveLease.Duration, StoredExpiry());

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await lease.RenewAsync(CancellationToken.None);
        Assert.Equal(requests + 1, _model.Counters.Requests);
        Assert.Equal(taken + s_renewAfter + RedriveLease.Duration, StoredExpiry());
        Assert.Equal(lease.Owner, LeaseItem()["owner"].S);

        _clock.Advance(s_renewAfter - TimeSpan.FromMilliseconds(1));
        await lease.RenewAsync(CancellationToken.None);
        Assert.Equal(requests + 1, _model.Counters.Requests);
    }

    /// <summary>
    /// A run stalled past its expiry, whose lease another run has since taken: its next renewal stops it with the reason,
    /// and leaves the other run's lease as it was.
    /// </summary>
    [Fact]
    public async Task RenewalAfterAnotherRunTookTheExpiredLease_StopsWithTheReason_AndLeavesTheOthersLease()
    {
        RedriveLease stalled = await TakeAsync();
        _clock.Advance(RedriveLease.Duration + TimeSpan.FromSeconds(1));
        RedriveLease other = await TakeAsync();
        DateTimeOffset otherExpiry = StoredExpiry();

        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => stalled.RenewAsync(CancellationToken.None));

        Assert.Contains("another redrive took it over", e.Message, StringComparison.Ordinal);
        Assert.Equal((other.Owner, otherExpiry), (LeaseItem()["owner"].S, StoredExpiry()));
        Assert.NotEqual(stalled.Owner, other.Owner);
    }

    /// <summary>A second run, while the first holds the lease, is told who holds it, since when (to the tick) and until when.</summary>
    [Fact]
    public async Task ASecondTaker_IsToldTheHolder_WhenItTookTheLease_AndUntilWhen()
    {
        Assert.Equal(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero), _clock.GetUtcNow());
        RedriveLease first = await TakeAsync();
        _clock.Advance(TimeSpan.FromMinutes(1));

        (RedriveLease? second, string? heldBy) = await RedriveLease.TryTakeAsync(_client, Table, _clock, CancellationToken.None);

        Assert.Null(second);
        Assert.Equal($"{first.Owner} since 2025-01-01T00:00:00.0000000+00:00, until 2025-01-01T00:10:00.0000000+00:00 unless it renews it", heldBy);
    }

    /// <summary>A lease item that lacks its owner, its start and its expiry (written by hand, or by an older tool) is reported as unknown, not as blanks.</summary>
    [Fact]
    public async Task ALeaseItemWithoutItsAttributes_IsReportedUnknown()
    {
        await _client.PutItemAsync(new PutItemRequest
        {
            TableName = Table,
            Item = new() { ["pk"] = new AttributeValue { S = RedriveLease.Pk }, ["sk"] = new AttributeValue { S = RedriveLease.Sk } },
        });

        (RedriveLease? lease, string? heldBy) = await RedriveLease.TryTakeAsync(_client, Table, _clock, CancellationToken.None);

        Assert.Null(lease);
        Assert.Equal("unknown since unknown, until unknown unless it renews it", heldBy);
    }

    /// <summary>
    /// Releasing never fails a run for what a lease left behind is harmless about (the service refusing, the network,
    /// a cancellation: the lease expires); any other exception is a bug and is not hidden.
    /// </summary>
    [Theory]
    [InlineData(typeof(AmazonDynamoDBException), false)]
    [InlineData(typeof(HttpRequestException), false)]
    [InlineData(typeof(IOException), false)]
    [InlineData(typeof(OperationCanceledException), false)]
    [InlineData(typeof(InvalidOperationException), true)]
    public async Task ReleaseThatFails_IsSwallowedOnlyForServiceNetworkAndCancellationErrors(Type failure, bool propagates)
    {
        var error = (Exception)Activator.CreateInstance(failure, "delete failed")!;
        IAmazonDynamoDB failingDeletes = FailingDeletes.Wrap(_client, error);
        (RedriveLease? lease, _) = await RedriveLease.TryTakeAsync(failingDeletes, Table, _clock, CancellationToken.None);
        Assert.NotNull(lease);

        Exception? thrown = await Record.ExceptionAsync(async () => await lease.DisposeAsync());

        Assert.Equal(propagates ? error : null, thrown);
        Assert.Equal(lease.Owner, LeaseItem()["owner"].S);
    }

    [Fact]
    public async Task TakingWithoutAClientOrAClock_IsRefusedByName()
    {
        Assert.Equal("dynamoDb", (await Assert.ThrowsAsync<ArgumentNullException>(() => RedriveLease.TryTakeAsync(null!, Table, _clock, CancellationToken.None))).ParamName);
        Assert.Equal("time", (await Assert.ThrowsAsync<ArgumentNullException>(() => RedriveLease.TryTakeAsync(_client, Table, null!, CancellationToken.None))).ParamName);
    }

    public void Dispose()
    {
        _client.Dispose();
        _model.Dispose();
    }

    private async Task<RedriveLease> TakeAsync()
    {
        (RedriveLease? lease, string? heldBy) = await RedriveLease.TryTakeAsync(_client, Table, _clock, CancellationToken.None);
        return lease ?? throw new InvalidOperationException("the lease is held: " + heldBy);
    }

    private Dictionary<string, AttributeValue> LeaseItem() =>
        Assert.Single(_model.GetItems(Table), i => i["pk"].S == RedriveLease.Pk && i["sk"].S == RedriveLease.Sk);

    private DateTimeOffset StoredExpiry() =>
        DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(LeaseItem()["expires"].N, CultureInfo.InvariantCulture));

    /// <summary>A DynamoDB client whose DeleteItem fails with the given exception; every other call goes to the real client.</summary>
    internal class FailingDeletes : DispatchProxy
    {
        private IAmazonDynamoDB _inner = null!;
        private Exception _error = null!;

        public static IAmazonDynamoDB Wrap(IAmazonDynamoDB inner, Exception error)
        {
            IAmazonDynamoDB proxy = Create<IAmazonDynamoDB, FailingDeletes>();
            var self = (FailingDeletes)(object)proxy;
            (self._inner, self._error) = (inner, error);
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            return targetMethod.Name == nameof(IAmazonDynamoDB.DeleteItemAsync)
                ? Task.FromException<DeleteItemResponse>(_error)
                : targetMethod.Invoke(_inner, args);
        }
    }
}
