namespace Analytics.Core.Testing.Tests;

/// <summary>Waits for work that runs on a virtual clock: every timer it sets is fired in order until it completes.</summary>
internal static class ClockPump
{
    public static T Pump<T>(this VirtualClock clock, Task<T> task)
    {
        for (int i = 0; i < 100_000 && !task.IsCompleted; i++)
        {
            if (clock.NextDue is { } due)
            {
                clock.AdvanceTo(due);
            }
            else
            {
                Thread.Sleep(1);
            }
        }

        Assert.True(task.IsCompleted, "the work did not finish");
        return task.GetAwaiter().GetResult();
    }
}
