using System.Collections.Concurrent;

namespace WbcPortal.Services;

/// <summary>
/// Fans a change out to subscribers (pages re-render through <c>InvokeAsync</c>); each subscription is
/// disposable. A failing subscriber (a page already gone) never stops the others or the caller.
/// </summary>
public sealed class ChangeNotifier<T>(ILogger logger)
{
    private readonly ConcurrentDictionary<Guid, Action<T>> subscribers = new();

    public IDisposable Subscribe(Action<T> onChange)
    {
        var id = Guid.NewGuid();
        subscribers[id] = onChange;
        return new Subscription(() => subscribers.TryRemove(id, out _));
    }

    public void Notify(T change)
    {
        foreach (var callback in subscribers.Values)
        {
            try
            {
                callback(change);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
            {
                logger.LogDebug(ex, "A subscriber failed");
            }
        }
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) dispose();
        }
    }
}
