using System.Runtime.ExceptionServices;

namespace Analytics.Core;

/// <summary>
/// The bounded worker pool both AWS sinks use: at most a given number of workers, each claiming the next index until
/// none is left; the first failure stops them all and is rethrown once every worker has stopped.
/// </summary>
internal static class BoundedWorkers
{
    /// <summary>
    /// Cancels the other workers on this thread: <c>CancelAsync</c> would run their cancellation (and so their
    /// continuations) on the thread pool, off a virtual clock's thread (see <see cref="ClockDelay"/>).
    /// </summary>
#pragma warning disable CA1849 // Cancel, not CancelAsync: synchronous on purpose.
    private static void StopAll(CancellationTokenSource stop) => stop.Cancel();
#pragma warning restore CA1849

    /// <summary>Runs <paramref name="work"/> once for each index from 0 to <paramref name="count"/> - 1.</summary>
    /// <typeparam name="TState">Scratch state each worker creates once and reuses for all its indexes.</typeparam>
    /// <param name="count">How many indexes.</param>
    /// <param name="maxConcurrency">Most workers at once (at least 1).</param>
    /// <param name="createState">Creates one worker's state.</param>
    /// <param name="work">Processes one index with the linked token; <see langword="false"/> stops every worker
    /// (nothing after this index can count any more).</param>
    /// <param name="cancellationToken">The caller's token; its cancellation stops the workers without an error.</param>
    /// <returns>A task that completes when every worker stopped; it faults with the first failure that did not come
    /// from cancellation.</returns>
    public static async Task RunAsync<TState>(
        int count,
        int maxConcurrency,
        Func<TState> createState,
        Func<int, TState, CancellationToken, Task<bool>> work,
        CancellationToken cancellationToken)
    {
        if (count <= 0)
        {
            return;
        }

        Exception? first = null;
        int next = -1;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        CancellationToken token = stop.Token;

        async Task WorkerAsync()
        {
            TState state = createState();
            while (!token.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= count)
                {
                    return;
                }

                try
                {
                    if (!await work(i, state, token).ConfigureAwait(false))
                    {
                        StopAll(stop);
                        return;
                    }
                }
                catch (Exception e) when (!token.IsCancellationRequested)
                {
                    Interlocked.CompareExchange(ref first, e, null);
                    StopAll(stop);
                    return;
                }
                catch (Exception) when (token.IsCancellationRequested)
                {
                    // Abandoned: the deadline passed, or another worker failed first.
                    return;
                }
            }
        }

        int workers = Math.Min(maxConcurrency, count);
        var tasks = new Task[workers];
        for (int w = 0; w < workers; w++)
        {
            tasks[w] = WorkerAsync();
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        if (first is not null)
        {
            ExceptionDispatchInfo.Throw(first);
        }
    }
}
