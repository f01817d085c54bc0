using System.Net.Sockets;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// replay's process handler: an execution environment whose process exits or runs past its deadline is replaced by the
/// emulator, so its host (the process and the loopback Runtime API listener) must go at once, not at the end of a run
/// that may start a new process for every retry.
/// </summary>
public sealed class ProcessHandlerTests
{
    // Loops on /next; per event: "exit" exits, "hang" never answers, anything else answers {}.
    private const string Bootstrap = """
        api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
        body=$(mktemp)
        while true; do
          id=$(curl -sS -D - -o "$body" "$api/invocation/next" | grep -i '^Lambda-Runtime-Aws-Request-Id:' | cut -d' ' -f2 | tr -d '\r')
          if grep -q exit "$body"; then exit 3; fi
          if grep -q hang "$body"; then sleep 30; fi
          curl -sS -X POST -d '{}' "$api/invocation/$id/response" >/dev/null
        done
        """;

    [Theory]
    [InlineData("exit")]
    [InlineData("hang")]
    public async Task AnEnvironmentWhoseProcessEnds_ClosesItsHostAndListenerAtOnce(string ending)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // bash and curl
        }

        await using var handler = new ProcessHandler(["/bin/bash", "-c", Bootstrap.Replace("\r\n", "\n", StringComparison.Ordinal)], null, TimeProvider.System, 128, TimeSpan.FromSeconds(10), new ProcessStarts());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        ReadOnlyMemory<byte> answer = await handler.InvokeAsync("\"ok\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Equal("{}", System.Text.Encoding.UTF8.GetString(answer.Span));
        string address = handler.Host!.RuntimeApiAddress;
        Assert.True(await AcceptsAsync(address), "the host listens while its process serves");

        Exception ended = await Assert.ThrowsAnyAsync<Exception>(() => handler.InvokeAsync(
            System.Text.Encoding.UTF8.GetBytes($"\"{ending}\""), DateTimeOffset.UtcNow.AddSeconds(ending == "hang" ? 1 : 20), cts.Token));
        Assert.IsType(ending == "hang" ? typeof(FunctionTimeoutException) : typeof(RuntimeApiHostException), ended);

        Assert.Null(handler.Host);
        Assert.False(await AcceptsAsync(address), "the dead environment's listener is closed");
    }

    private static async Task<bool> AcceptsAsync(string address)
    {
        string[] parts = address.Split(':');
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await client.ConnectAsync(parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
