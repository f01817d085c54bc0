using Analytics.Core.Testing;

namespace Analytics.Replay;

/// <summary>
/// A command line run through the <see cref="RuntimeApiHost"/>, one process per execution environment, started at
/// the environment's first invocation. The process runs in real time: the emulator waits for it (virtual time stands
/// still meanwhile) and the invocation's remaining virtual budget becomes a real deadline. Runs are therefore not
/// byte-reproducible.
/// </summary>
internal sealed class ProcessHandler(IReadOnlyList<string> command, TimeProvider clock, int memoryMb, TimeSpan initTimeout) : ILambdaHandler, IAsyncDisposable
{
    private RuntimeApiHost? _host;

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        TimeSpan budget = deadline - clock.GetUtcNow();
        _host ??= await RuntimeApiHost.StartAsync(
            new RuntimeApiHostOptions
            {
                FileName = command[0],
                Arguments = command.Skip(1).ToArray(),
                MemorySizeMb = memoryMb,
                InitTimeout = initTimeout,
            },
            cancellationToken).ConfigureAwait(false);
        return await _host.InvokeAsync(utf8Event, DateTimeOffset.UtcNow + budget, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }
    }
}
