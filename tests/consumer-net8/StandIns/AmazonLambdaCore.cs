// Stand-ins for the two Amazon.Lambda.Core interfaces a managed-runtime handler uses (the Amazon.Lambda packages are
// not served to this build), with the same names, namespace and member types, so the README's handler compiles as
// it would against the real package.
namespace Amazon.Lambda.Core
{
    public interface ILambdaLogger
    {
        void LogLine(string message);
    }

    public interface ILambdaContext
    {
        string AwsRequestId { get; }

        TimeSpan RemainingTime { get; }

        ILambdaLogger Logger { get; }
    }
}

namespace ConsumerNet8
{
    using Amazon.Lambda.Core;

    internal sealed class StandInContext(TimeSpan remainingTime) : ILambdaContext, ILambdaLogger
    {
        public string AwsRequestId { get; } = Guid.NewGuid().ToString();

        public TimeSpan RemainingTime { get; } = remainingTime;

        public ILambdaLogger Logger => this;

        public void LogLine(string message) => Console.Error.WriteLine(message);
    }
}
