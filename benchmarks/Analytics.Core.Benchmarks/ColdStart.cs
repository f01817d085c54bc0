using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// Whole-process cold start of a Lambda bootstrap: the time from starting the process to the first invocation's
/// response reaching a Runtime API stub on loopback. The stub serves one event of 100 valid records on
/// <c>GET /runtime/invocation/next</c> and stops the process when its response arrives. Variants run interleaved,
/// so load on the machine falls on all of them alike.
/// </summary>
/// <remarks>
/// <c>--coldstart &lt;runs&gt; &lt;label&gt;=&lt;path&gt; ...</c>: a path ending in <c>.dll</c> runs under <c>dotnet</c>
/// (JIT), anything else is executed as it is (a Native AOT <c>bootstrap</c>).
/// </remarks>
internal static class ColdStart
{
    public static async Task<int> RunAsync(int runs, IReadOnlyList<(string Label, string Path)> variants)
    {
        byte[] evt = BenchmarkData.Event(BenchmarkData.Records(100, out _));
        var times = variants.ToDictionary(v => v.Label, _ => new List<double>());
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        Console.WriteLine($"cold start: {runs} runs per variant, interleaved; event of 100 records ({evt.Length} bytes); load average at start: {load}");
        for (int run = 0; run < runs; run++)
        {
            foreach ((string label, string path) in variants)
            {
                double ms = await OnceAsync(path, evt).ConfigureAwait(false);
                times[label].Add(ms);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label} run {run + 1}: {ms:F1} ms"));
            }
        }

        load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        Console.WriteLine($"load average at end: {load}");
        Console.WriteLine("| Variant | Runs | Median | p90 | Min | Max |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach ((string label, _) in variants)
        {
            double[] sorted = [.. times[label].Order()];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {label} | {sorted.Length} | {Percentile(sorted, 0.5):F0} ms | {Percentile(sorted, 0.9):F0} ms | {sorted[0]:F0} ms | {sorted[^1]:F0} ms |"));
        }

        return 0;
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private static async Task<double> OnceAsync(string path, byte[] evt)
    {
        int port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        string output = Directory.CreateTempSubdirectory("coldstart-").FullName;
        var start = new ProcessStartInfo(path.EndsWith(".dll", StringComparison.Ordinal) ? "dotnet" : path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (path.EndsWith(".dll", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(path);
        }

        start.Environment["AWS_LAMBDA_RUNTIME_API"] = $"127.0.0.1:{port}";
        start.Environment["ANALYTICS_OUTPUT_DIR"] = output;
        start.Environment["AWS_LAMBDA_FUNCTION_NAME"] = "coldstart";

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var stopwatch = Stopwatch.StartNew();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {path}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            while (true)
            {
                HttpListenerContext context = await listener.GetContextAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
                string url = context.Request.Url!.AbsolutePath;
                if (context.Request.HttpMethod == "GET" && url.EndsWith("/runtime/invocation/next", StringComparison.Ordinal))
                {
                    HttpListenerResponse r = context.Response;
                    r.Headers["Lambda-Runtime-Aws-Request-Id"] = "req-1";
                    r.Headers["Lambda-Runtime-Deadline-Ms"] = DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
                    r.Headers["Lambda-Runtime-Invoked-Function-Arn"] = "arn:aws:lambda:us-east-1:123456789012:function:coldstart";
                    r.Headers["Lambda-Runtime-Trace-Id"] = "Root=1-00000000-000000000000000000000000";
                    r.ContentType = "application/json";
                    r.ContentLength64 = evt.Length;
                    await r.OutputStream.WriteAsync(evt, timeout.Token).ConfigureAwait(false);
                    r.Close();
                    continue;
                }

                using var body = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                _ = await body.ReadToEndAsync(timeout.Token).ConfigureAwait(false);
                double elapsed = stopwatch.Elapsed.TotalMilliseconds;
                context.Response.StatusCode = 202;
                context.Response.Close();
                if (url.EndsWith("/response", StringComparison.Ordinal))
                {
                    return elapsed;
                }

                throw new InvalidOperationException($"{path}: {context.Request.HttpMethod} {url} instead of a response (an error was reported)");
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            Directory.Delete(output, recursive: true);
        }
    }
}
