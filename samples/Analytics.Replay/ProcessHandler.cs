using Analytics.Core.Testing;

namespace Analytics.Replay;

/// <summary>
/// A command line run through the <see cref="RuntimeApiHost"/>, one process per execution environment, started at
/// the environment's first invocation. The process runs in real time: the emulator waits for it (virtual time stands
/// still meanwhile) and the invocation's remaining virtual budget becomes a real deadline. Runs are therefore not
/// byte-reproducible. The process gets the scenario's <c>handler.environment</c> and the variables Lambda defines,
/// nothing of replay's own environment, as on Lambda.
/// </summary>
internal sealed class ProcessHandler(IReadOnlyList<string> command, IReadOnlyDictionary<string, string?>? environment, TimeProvider clock, int memoryMb, TimeSpan initTimeout) : ILambdaHandler, IAsyncDisposable
{
    private RuntimeApiHost? _host;

    /// <summary>The environment's host while its process can serve; null before the first invocation and once it ended.</summary>
    internal RuntimeApiHost? Host => _host;

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        TimeSpan budget = deadline - clock.GetUtcNow();
        try
        {
            _host ??= await RuntimeApiHost.StartAsync(
                new RuntimeApiHostOptions
                {
                    FileName = command[0],
                    Arguments = command.Skip(1).ToArray(),
                    MemorySizeMb = memoryMb,
                    Environment = environment ?? new Dictionary<string, string?>(),
                    InitTimeout = initTimeout,
                },
                cancellationToken).ConfigureAwait(false);
            return await _host.InvokeAsync(utf8Event, DateTimeOffset.UtcNow + budget, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RuntimeApiHostException or FunctionTimeoutException)
        {
            // The process exited, failed its init or ran past its deadline: the emulator ends this execution
            // environment and starts a new one (with a new process), so this one's host and loopback listener go now,
            // not at the end of the run. Its clean-up failing must not replace this exception: the emulator resets the
            // environment on a RuntimeApiHostException only, and would reuse a dead one for the next invocation.
            if (_host is { } host)
            {
                _host = null;
                await host.DisposeQuietlyAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
            _host = null;
        }
    }
}
