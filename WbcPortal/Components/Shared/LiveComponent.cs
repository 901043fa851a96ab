using Microsoft.AspNetCore.Components;

namespace WbcPortal.Components.Shared;

/// <summary>
/// A page or panel that follows changes made elsewhere (a run training, a job going on): the one live-update loop of the
/// portal. <see cref="Follow{T}"/> subscribes; a change that matters re-renders the component (after <c>reload</c>, when
/// given) at once, then at most once per interval while changes keep coming, and always once more after the last of
/// them, so a burst never hides its final state (a run shown Running after it finished). Subscriptions end with the
/// component; a reload that fails is handed to Blazor's error boundary, never lost on a background thread.
/// </summary>
public abstract class LiveComponent : ComponentBase, IDisposable
{
    private readonly List<IDisposable> follows = [];
    private bool disposed;

    /// <param name="subscribe">The source's Subscribe (it calls back from any thread).</param>
    /// <param name="matters">Which changes concern this component.</param>
    /// <param name="reload">What to read again before rendering (null: render only, e.g. numbers held in memory).</param>
    /// <param name="every">The least time between two renders while changes keep coming (default 250 ms).</param>
    protected void Follow<T>(Func<Action<T>, IDisposable> subscribe, Func<T, bool> matters, Func<Task>? reload = null, TimeSpan? every = null)
    {
        if (disposed) return;
        var throttle = new Throttle(every ?? TimeSpan.FromMilliseconds(250), () => InvokeAsync(async () =>
        {
            if (disposed) return;
            try
            {
                if (reload is not null) await reload();
                StateHasChanged();
            }
            catch (Exception ex) when (!disposed)
            {
                await DispatchExceptionAsync(ex);
            }
        }));
        follows.Add(throttle);
        follows.Add(subscribe(change =>
        {
            if (!disposed && matters(change)) throttle.Signal();
        }));
    }

    /// <summary><see cref="Follow{T}"/> for a source whose changes carry nothing.</summary>
    protected void Follow(Func<Action, IDisposable> subscribe, Func<Task>? reload = null, TimeSpan? every = null) =>
        Follow<bool>(onChange => subscribe(() => onChange(true)), _ => true, reload, every);

    /// <summary>Whether <see cref="Follow{T}"/> was called (pages that subscribe from OnParametersSet do it once).</summary>
    protected bool Following => follows.Count > 0;

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var follow in follows) follow.Dispose();
        OnDispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>What the component itself gives back when it goes (an upload in progress, …).</summary>
    protected virtual void OnDispose()
    {
    }

    /// <summary>Runs <c>work</c> at once on a signal, then at most once per interval, and once more after the last signal.</summary>
    internal sealed class Throttle(TimeSpan every, Func<Task> work) : IDisposable
    {
        // 0 idle, 1 running, 2 running with a signal since it started.
        private int state;
        private volatile bool stopped;

        public void Signal()
        {
            while (!stopped)
            {
                int s = Volatile.Read(ref state);
                if (s == 2) return;
                if (Interlocked.CompareExchange(ref state, s + 1, s) != s) continue;
                if (s == 0) _ = LoopAsync();
                return;
            }
        }

        private async Task LoopAsync()
        {
            while (!stopped)
            {
                try
                {
                    await work();
                }
                catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or TaskCanceledException)
                {
                    // The component went while it rendered: nothing more to show.
                    return;
                }
                await Task.Delay(every);
                // Nothing came meanwhile: idle again. Else take the signals that came and run once more.
                if (Interlocked.CompareExchange(ref state, 0, 1) == 1) return;
                Volatile.Write(ref state, 1);
            }
        }

        public void Dispose() => stopped = true;
    }
}
