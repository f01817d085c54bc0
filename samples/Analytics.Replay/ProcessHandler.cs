using Analytics.Core.Testing;

namespace Analytics.Replay;

/// <summary>
/// A command line run through the <see cref="RuntimeApiHost"/>, one process per execution environment, started at
/// the environment's first invocation. The process runs in real time: the emulator waits for it (virtual time stands
/// still meanwhile) and the invocation's remaining virtual budget becomes a real deadline. Runs are therefore not
/// byte-reproducible. The process gets the scenario's <c>handler.environment</c> and the variables Lambda defines,
/// nothing of replay's own environment, as on Lambda.
/// </summary>
internal sealed class ProcessHandler(IReadOnlyList<string> command, IReadOnlyDictionary<string, string?>? environment, TimeProvider clock, int memoryMb, TimeSpan initTimeout, ProcessStarts starts) : ILambdaHandler, IAsyncDisposable
{
    private RuntimeApiHost? _host;

    /// <summary>The environment's host while its process can serve; null before the first invocation and once it ended.</summary>
    internal RuntimeApiHost? Host => _host;

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        TimeSpan budget = deadline - clock.GetUtcNow();
        try
        {
            if (_host is null)
            {
                long began = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    _host = await RuntimeApiHost.StartAsync(
                        new RuntimeApiHostOptions
                        {
                            FileName = command[0],
                            Arguments = command.Skip(1).ToArray(),
                            MemorySizeMb = memoryMb,
                            Environment = environment ?? new Dictionary<string, string?>(),
                            InitTimeout = initTimeout,
                        },
                        cancellationToken).ConfigureAwait(false);
                }
                catch (RuntimeApiHostException e) when (System.Diagnostics.Stopwatch.GetElapsedTime(began) >= initTimeout)
                {
                    // The process never asked for an event: the attempt cost the init timeout of real time (see ProcessStarts).
                    starts.NoteInitTimeout(e.Message);
                    throw;
                }

                starts.NoteStarted();
            }

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

/// <summary>
/// What the run's processes did at their start: whether any asked for an event. A command the system cannot start
/// (another architecture's binary, a script whose interpreter is missing: it has its execute bit, so the loader took it)
/// before any process of the run started is the scenario's mistake, not a run of failed cold starts (found by review: a
/// 2 s scenario ended with exit 0 and 1,999 invocations, every one "could not be started").
/// </summary>
internal sealed class ProcessStarts : IEmulationObserver
{
    /// <summary>Init timeouts in a row (no process started between them) that end the run as a bad scenario.</summary>
    public const int InitTimeoutsToGiveUp = 3;

    private int _initTimeouts;
    private string? _lastInitTimeout;

    /// <summary>A process of the run started and asked for an event.</summary>
    public bool Started { get; private set; }

    /// <summary>A process asked for an event: the init timeouts in a row start again.</summary>
    public void NoteStarted()
    {
        Started = true;
        Volatile.Write(ref _initTimeouts, 0);
    }

    /// <summary>A process did not ask for an event within the init timeout.</summary>
    public void NoteInitTimeout(string message)
    {
        _lastInitTimeout = message;
        Interlocked.Increment(ref _initTimeouts);
    }

    public void OnInvocation(InvocationReport invocation)
    {
        if (Volatile.Read(ref _initTimeouts) >= InitTimeoutsToGiveUp)
        {
            // Each such attempt waits the init timeout in real time and lasts a millisecond of virtual time, and Lambda's
            // retries are endless by default: a command that never serves kept a 2 s scenario running for hours (found by
            // review). Lambda's own init phase is bounded the same way; what the function does then is not worth a run.
            throw new ScenarioException("$.handler.command", $"{InitTimeoutsToGiveUp} processes in a row did not ask for an event; the last: {_lastInitTimeout}");
        }

        const string CouldNot = " could not be started: ";
        if (!Started && invocation.ErrorMessage is { } message && message.Contains(CouldNot, StringComparison.Ordinal))
        {
            throw new ScenarioException("$.handler.command[0]", "cannot be started: " + message[(message.IndexOf(CouldNot, StringComparison.Ordinal) + CouldNot.Length)..]);
        }
    }

    public void OnRecord(StreamRecord record)
    {
    }

    public void OnDestination(DestinationRecord record)
    {
    }

    public void OnSecond(ShardSecond metrics)
    {
    }
}
