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

    [Fact]
    public void Deletion_is_refused_for_an_active_run_or_an_active_model_and_a_deleted_fold_leaves_the_cross_validation_incomplete()
    {
        Assert.Null(RunLifecycle.DeletionRefusal(RunStatus.Failed, "r", null));
        Assert.Equal("Run 'r' is Queued: it cannot be deleted (stop it first).", RunLifecycle.DeletionRefusal(RunStatus.Queued, "r", "m"));
        Assert.Equal("Run 'r' exported model 'm', the active model the portal classifies with: it cannot be deleted (make another model active first, on the Models page).",
            RunLifecycle.DeletionRefusal(RunStatus.Succeeded, "r", "m"));
        // A name and notes are labels: every status allows them.
        Assert.All(Enum.GetValues<RunStatus>(), s => Assert.True(RunLifecycle.Allows(s, RunAction.Rename) && RunLifecycle.Allows(s, RunAction.EditNotes)));

        Assert.Equal("Succeeded", CrossValidationLifecycle.Describe(RunStatus.Succeeded, []));
        Assert.Equal("incomplete (fold 1 deleted)", CrossValidationLifecycle.Describe(RunStatus.Succeeded, [1]));
        Assert.Equal("incomplete (folds 1, 2 and 4 deleted)", CrossValidationLifecycle.Describe(RunStatus.Failed, [4, 1, 2]));
        Assert.Equal("Running, incomplete (fold 3 deleted)", CrossValidationLifecycle.Describe(RunStatus.Running, [3]));
        Assert.True(CrossValidationLifecycle.MeanIsFinal([RunStatus.Succeeded, RunStatus.Succeeded], []));
        Assert.False(CrossValidationLifecycle.MeanIsFinal([RunStatus.Succeeded, RunStatus.Succeeded], [3]));
        Assert.False(CrossValidationLifecycle.MeanIsFinal([RunStatus.Succeeded, RunStatus.Running], []));
    }
}
