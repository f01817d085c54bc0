namespace Analytics.Core.Testing;

/// <summary>What a <see cref="RuntimeApiHost"/> runs and how.</summary>
/// <remarks>Only <see cref="FileName"/> is required: <c>new RuntimeApiHostOptions { FileName = "./bootstrap" }</c>.</remarks>
public sealed record RuntimeApiHostOptions
{
    /// <summary>The program to start (a Native AOT <c>bootstrap</c>, or <c>dotnet</c> with the assembly as first argument).</summary>
    public required string FileName { get; init; }

    /// <summary>Its arguments. Default none.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>
    /// The function's environment variables, as its configuration sets them (a <see langword="null"/> value removes
    /// one). The host sets <c>AWS_LAMBDA_RUNTIME_API</c> itself, and these unless given here:
    /// <c>AWS_LAMBDA_FUNCTION_NAME</c>, <c>AWS_LAMBDA_FUNCTION_MEMORY_SIZE</c>, <c>AWS_LAMBDA_FUNCTION_VERSION</c>
    /// (<c>$LATEST</c>) and <c>AWS_REGION</c> (us-east-1); and, unless <see cref="InheritEnvironment"/>, the others Lambda
    /// defines: <c>AWS_DEFAULT_REGION</c> (as <c>AWS_REGION</c>), <c>AWS_LAMBDA_INITIALIZATION_TYPE</c> (on-demand),
    /// <c>AWS_LAMBDA_LOG_GROUP_NAME</c>, <c>AWS_LAMBDA_LOG_STREAM_NAME</c>, <c>LAMBDA_TASK_ROOT</c> (the working
    /// directory), <c>TZ</c> (<c>:UTC</c>), <c>LANG</c> (en_US.UTF-8) and <c>PATH</c>
    /// (<c>/usr/local/bin:/usr/bin/:/bin:/opt/bin</c>). Credentials are not among them: Lambda takes them from the
    /// execution role, so give the process the ones it needs here. Of the runner's own variables only
    /// <c>DOTNET_ROOT</c> (and its <c>_X64</c>, <c>_ARM64</c> forms) is passed, for a framework-dependent build.
    /// </summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// Whether the process also gets this process's environment. Default <see langword="false"/>: as in Lambda, it
    /// starts with only the variables Lambda defines and <see cref="Environment"/>, so a variable of the machine the
    /// tests run on (credentials, endpoints, a proxy, a setting of the function) cannot make a test pass or fail that
    /// would not on Lambda.
    /// </summary>
    public bool InheritEnvironment { get; init; }

    /// <summary>The working directory; default the current one.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The function's name. Default <c>function</c>.</summary>
    public string FunctionName { get; init; } = "function";

    /// <summary>The ARN handed to the function in <c>Lambda-Runtime-Invoked-Function-Arn</c>. Default an ARN of <see cref="FunctionName"/> in us-east-1.</summary>
    public string? FunctionArn { get; init; }

    /// <summary>The memory size reported in <c>AWS_LAMBDA_FUNCTION_MEMORY_SIZE</c>. Default 1024.</summary>
    public int MemorySizeMb { get; init; } = 1024;

    /// <summary>
    /// How long the process may take from its start to its first <c>/next</c> (Lambda allows 10 s for the init phase).
    /// Default 10 s.
    /// </summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the process's stdout and stderr lines go (Lambda sends them to CloudWatch Logs). Default nowhere.</summary>
    public TextWriter? Log { get; init; }
}

/// <summary>The function reported an error for an invocation (<c>POST /runtime/invocation/{id}/error</c>).</summary>
public sealed class FunctionErrorException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FunctionErrorException()
        : this("The function reported an error.", "Unknown", [])
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The function's <c>errorMessage</c>.</param>
    public FunctionErrorException(string message)
        : this(message, "Unknown", [])
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The function's <c>errorMessage</c>.</param>
    /// <param name="innerException">The cause.</param>
    public FunctionErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorType = "Unknown";
        Body = [];
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The function's <c>errorMessage</c>.</param>
    /// <param name="errorType">The function's <c>errorType</c> (or the <c>Lambda-Runtime-Function-Error-Type</c> header).</param>
    /// <param name="body">The error document as posted.</param>
    public FunctionErrorException(string message, string errorType, byte[] body)
        : base(message)
    {
        ErrorType = errorType;
        Body = body;
    }

    /// <summary>The function's <c>errorType</c>.</summary>
    public string ErrorType { get; }

    /// <summary>The error document as the function posted it.</summary>
    public IReadOnlyList<byte> Body { get; }
}

/// <summary>
/// The function's process could not serve an invocation: it exited, posted an init error, or did not reach its first
/// <c>/next</c> in time. The message says which, with the exit code and the last lines the process wrote.
/// </summary>
public sealed class RuntimeApiHostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RuntimeApiHostException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    public RuntimeApiHostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public RuntimeApiHostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The errorType the invocation's failure gets: the one the process posted with its init error, or <c>Runtime.ExitError</c> when it exited; null otherwise.</summary>
    internal string? ErrorType { get; init; }
}

/// <summary>
/// The function ran past its deadline (Lambda's "Task timed out after N seconds"): <see cref="RuntimeApiHost"/> throws
/// it when the process has not answered by the invocation's deadline, and ends the process. A handler that throws it
/// in the <see cref="StreamEmulator"/> times out there: the invocation ends at its deadline with the outcome
/// <c>timeout</c>, and its execution environment is replaced, as for a handler still running at its deadline.
/// </summary>
public sealed class FunctionTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public FunctionTimeoutException()
        : base("Task timed out.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What timed out, as Lambda words it.</param>
    public FunctionTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What timed out, as Lambda words it.</param>
    /// <param name="innerException">The cause.</param>
    public FunctionTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
