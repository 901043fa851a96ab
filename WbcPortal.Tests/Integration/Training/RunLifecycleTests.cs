using WbcPortal.Services.Training;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Tests.Integration.Training;

/// <summary>The one status-transition table: what each status allows, and a refusal that says why.</summary>
public sealed class RunLifecycleTests
{
    [Fact]
    public void The_table_allows_each_action_from_its_statuses_only()
    {
        Assert.Equal([RunStatus.Queued], RunLifecycle.StatusesAllowing(RunAction.Claim));
        Assert.Equal([RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted], RunLifecycle.StatusesAllowing(RunAction.Resume));
        Assert.Equal([RunStatus.Queued, RunStatus.Running], RunLifecycle.StatusesAllowing(RunAction.Stop));
        Assert.Equal([RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Interrupted], RunLifecycle.StatusesAllowing(RunAction.Delete));
        Assert.Equal([RunStatus.Queued, RunStatus.Cancelled, RunStatus.Failed, RunStatus.Interrupted], RunLifecycle.ResumableHere);
        // Every status can leave: an active one can be stopped, every other resumed or deleted (no dead end).
        foreach (var status in Enum.GetValues<RunStatus>())
        {
            Assert.True(RunLifecycle.IsActive(status)
                ? RunLifecycle.Allows(status, RunAction.Stop) && !RunLifecycle.Allows(status, RunAction.Delete)
                : RunLifecycle.Allows(status, RunAction.Delete), status.ToString());
        }
    }

    [Fact]
    public void A_refusal_names_the_run_its_status_and_what_to_do()
    {
        Assert.Null(RunLifecycle.Refusal(RunStatus.Interrupted, RunAction.Resume, "r"));
        Assert.Equal("Run 'r' is Succeeded: it cannot be resumed (train a new run instead).", RunLifecycle.Refusal(RunStatus.Succeeded, RunAction.Resume, "r"));
        Assert.Equal("Run 'r' is Running: it cannot be deleted (stop it first).", RunLifecycle.Refusal(RunStatus.Running, RunAction.Delete, "r"));
        Assert.Equal("Run 'r' is Cancelled: it cannot be stopped (only queued or running runs can be stopped).", RunLifecycle.Refusal(RunStatus.Cancelled, RunAction.Stop, "r"));
    }
}
