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

    [Fact]
    public void Every_transition_writes_only_the_statuses_its_table_allows()
    {
        Assert.Equal(RunStatus.Queued, RunLifecycle.To(RunTransition.Create));
        Assert.Equal(RunStatus.Running, RunLifecycle.To(RunTransition.Claim));
        Assert.Equal(RunStatus.Queued, RunLifecycle.To(RunTransition.Requeue));
        Assert.Equal(RunStatus.Cancelled, RunLifecycle.To(RunTransition.CancelQueued));
        Assert.Equal(RunStatus.Interrupted, RunLifecycle.To(RunTransition.Interrupt));
        Assert.Equal(RunStatus.Succeeded, RunLifecycle.To(RunTransition.Finish, RunStatus.Succeeded));
        Assert.Throws<ArgumentException>(() => RunLifecycle.To(RunTransition.Finish)); // which end: it must be said
        Assert.Throws<InvalidOperationException>(() => RunLifecycle.To(RunTransition.Finish, RunStatus.Queued));
        Assert.Throws<InvalidOperationException>(() => RunLifecycle.To(RunTransition.Requeue, RunStatus.Running));
        // The transitions agree with the actions' table: a claim from where Claim (and the CLI's resume) may start, a
        // requeue from where Resume may, a stop of a queued run from where Stop may.
        Assert.Equal(RunLifecycle.ResumableHere.Order(), RunLifecycle.From(RunTransition.Claim).Order());
        Assert.Equal(RunLifecycle.StatusesAllowing(RunAction.Resume), RunLifecycle.From(RunTransition.Requeue));
        Assert.Subset(RunLifecycle.StatusesAllowing(RunAction.Stop).ToHashSet(), RunLifecycle.From(RunTransition.CancelQueued).ToHashSet());
        Assert.False(RunLifecycle.CanMove(RunStatus.Succeeded, RunStatus.Running)); // a finished run is never run again
        Assert.False(RunLifecycle.CanMove(RunStatus.Queued, RunStatus.Succeeded)); // nor finished without running
    }

    /// <summary>Issue 27 item 2: every write of a run's status, listed from the source, goes through <see cref="RunLifecycle.To"/>.</summary>
    [Fact]
    public void Every_status_write_in_the_portal_goes_through_the_lifecycle()
    {
        string root = Path.Combine(WbcPortal.Tests.Support.PortalProcess.RepositoryRoot(), "WbcPortal");
        var writes = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(f => (f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".razor", StringComparison.Ordinal))
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}Migrations{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(root, f), Line: i + 1, Text: line.Trim())))
            .Where(l => System.Text.RegularExpressions.Regex.IsMatch(l.Text, @"SetProperty\(\w+ => \w+\.Status,|\bStatus = RunStatus\.|\brun\.Status = "))
            .ToList();
        // The writes there are today: interrupt, requeue, cancel a queued run, claim, succeed, finish otherwise, create.
        Assert.True(writes.Count >= 6, $"only {writes.Count} status writes found: has the code moved?");
        var outside = writes.Where(w => !w.Text.Contains("RunLifecycle.To(", StringComparison.Ordinal)).Select(w => $"{w.File}:{w.Line}: {w.Text}").ToList();
        Assert.True(outside.Count == 0, "status writes outside the lifecycle:\n" + string.Join("\n", outside));
    }
}
