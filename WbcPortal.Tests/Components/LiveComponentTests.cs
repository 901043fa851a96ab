using WbcPortal.Components.Shared;

namespace WbcPortal.Tests.Components;

/// <summary>
/// Issue 27 item 2: the one live-update loop. A burst of changes renders at once, then at most once per interval, and
/// always once after the last change (the runs list had dropped changes within 2 s of its last reload and could keep a
/// finished run shown as Running).
/// </summary>
public sealed class LiveComponentTests
{
    [Fact]
    public async Task A_burst_runs_at_once_then_at_most_once_an_interval_and_always_after_its_last_change()
    {
        var ct = TestContext.Current.CancellationToken;
        int runs = 0;
        long lastRunStarted = 0;
        using var throttle = new LiveComponent.Throttle(TimeSpan.FromMilliseconds(200), () =>
        {
            Interlocked.Increment(ref runs);
            Interlocked.Exchange(ref lastRunStarted, DateTime.UtcNow.Ticks);
            return Task.CompletedTask;
        });
        var start = DateTime.UtcNow;
        throttle.Signal();
        Assert.Equal(1, Volatile.Read(ref runs)); // the first change is shown at once
        long lastSignal = 0;
        // A run training: a change every 10 ms for 1 s.
        while (DateTime.UtcNow - start < TimeSpan.FromSeconds(1))
        {
            throttle.Signal();
            lastSignal = DateTime.UtcNow.Ticks;
            await Task.Delay(10, ct);
        }
        await Task.Delay(600, ct);
        int total = Volatile.Read(ref runs);
        // About one run per 200 ms over the burst, never one per change (~100).
        Assert.InRange(total, 3, 12);
        // The last change was followed by a run that saw it.
        Assert.True(Interlocked.Read(ref lastRunStarted) >= lastSignal, "no run after the last change: its state would never show");
        // Quiet now: nothing more runs.
        await Task.Delay(500, ct);
        Assert.Equal(total, Volatile.Read(ref runs));
        // And a later change runs again at once.
        throttle.Signal();
        Assert.Equal(total + 1, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task A_disposed_throttle_runs_nothing_more()
    {
        int runs = 0;
        var throttle = new LiveComponent.Throttle(TimeSpan.FromMilliseconds(50), () => { Interlocked.Increment(ref runs); return Task.CompletedTask; });
        throttle.Signal();
        throttle.Dispose();
        throttle.Signal();
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(1, Volatile.Read(ref runs));
    }
}
