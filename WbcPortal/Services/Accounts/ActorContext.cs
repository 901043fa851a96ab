namespace WbcPortal.Services.Accounts;

/// <summary>
/// Who the current work is for, flowing with the async call (a request, a circuit's event, a job started from them).
/// The web host sets it per request and per circuit activity; the CLI sets the operator; a job runs as the one who
/// started it; work nobody started (start-up, recovery) runs as <see cref="Actor.System"/>.
/// </summary>
public sealed class ActorContext
{
    private readonly AsyncLocal<Actor?> current = new();

    public Actor Current => current.Value ?? Actor.System;

    /// <summary>Runs what follows as <paramref name="actor"/> until disposed.</summary>
    public IDisposable Use(Actor actor)
    {
        var previous = current.Value;
        current.Value = actor;
        return new Restore(this, previous);
    }

    private sealed class Restore(ActorContext context, Actor? previous) : IDisposable
    {
        public void Dispose() => context.current.Value = previous;
    }
}

/// <summary>The services' one check: the current actor may do the action, or <see cref="AccessDeniedException"/>.</summary>
public sealed class AccessControl(ActorContext actors)
{
    public Actor Current => actors.Current;

    public Actor Demand(PortalAction action)
    {
        var actor = actors.Current;
        if (!actor.Can(action)) throw new AccessDeniedException(actor, action);
        return actor;
    }
}
