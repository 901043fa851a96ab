using WbcPortal.Services.Datasets;
using WbcPortal.Services.Grouping;
using WbcPortal.Services.Review;
using WbcPortal.Services.Splits;
using WbcPortal.Engine.Datasets.Splitting;

namespace WbcPortal.Services.Jobs;

/// <summary>Imports a staged folder of class folders, or a staged zip, into a dataset (created when new).</summary>
/// <param name="What">What is imported, for people: "zip cells.zip", "3 file(s) into EOSINOPHIL", "40 cells of smear batch 2".</param>
/// <param name="ZipPath">The staged zip; null: <paramref name="Folder"/> holds class folders.</param>
public sealed record ImportJob(string Dataset, string Folder, string What, string? ZipPath = null, string? ZipName = null) : JobRequest
{
    public override JobKind Kind => JobKind.Import;
    public override string Subject => Dataset;
    public override string Description => What;
    public override string CancelledNote => "images already committed stay in the dataset; the staged copy was removed";
}

public sealed record GroupingJob(int DatasetId, string Dataset) : JobRequest
{
    public override JobKind Kind => JobKind.Grouping;
    public override string Subject => Dataset;
    public override string Description => "finding source groups";
    public override string CancelledNote => "the source groups found before, if any, are unchanged";
}

public sealed record SplitJob(string Dataset, SplitRequest Request) : JobRequest
{
    public override JobKind Kind => JobKind.Split;
    public override string Subject => Dataset;
    public override string Description => Request.Strategy switch
    {
        Engine.Datasets.Splitting.SplitStrategy.Folders when Request.CarveMissing => $"folders split, missing parts carved from TRAIN at {Request.Ratios} seed {Request.Seed}",
        Engine.Datasets.Splitting.SplitStrategy.Folders => "folders split (the dataset's own TRAIN/VAL/TEST)",
        _ => $"{Request.Strategy.Name()} split {Request.Ratios} seed {Request.Seed}",
    };
    public override string CancelledNote => "no split was stored";
}

public sealed record LeakCheckJob(string Dataset, string Split) : JobRequest
{
    public override JobKind Kind => JobKind.LeakCheck;
    public override string Subject => Dataset;
    public override string Description => $"leak check of split {Split}";
    public override string CancelledNote => "the split is unchanged (still not leak-checked, or its earlier check kept)";
}

/// <param name="Decisions">The review decisions in force when it was asked for (for its description).</param>
public sealed record VersionJob(int DatasetId, string Dataset, int? SplitId, int? Decisions) : JobRequest
{
    public override JobKind Kind => JobKind.Version;
    public override string Subject => Dataset;
    public override string Description => $"new version from {Decisions} review decisions";
    public override string CancelledNote => "the version is kept if it was stored before the leak check; run the check again from its split page";
}

public sealed record LabelIssuesJob(string Dataset) : JobRequest
{
    public override JobKind Kind => JobKind.LabelIssues;
    public override string Subject => Dataset;
    public override string Description => $"label issues over {LabelIssueService.DefaultFolds} group folds";
    public override string CancelledNote => "nothing was stored";
}

/// <summary>What a finished leak check tells its card: the split it checked.</summary>
public sealed record LeakCheckDone(string Split, int Pairs);

internal sealed class ImportJobHandler(DatasetService datasets) : JobHandler<ImportJob, DatasetImportSummary>
{
    protected override Task<DatasetImportSummary> RunAsync(ImportJob job, JobContext context) => job.ZipPath is { } zip
        ? datasets.ImportZipAsync(job.Dataset, zip, job.ZipName, context.Progress.ForImport(), context.CancellationToken)
        : datasets.ImportFolderAsync(job.Dataset, job.Folder, context.Progress.ForImport(), context.CancellationToken);
}

internal sealed class GroupingJobHandler(GroupingService grouping) : JobHandler<GroupingJob, GroupingSummary>
{
    protected override Task<GroupingSummary> RunAsync(GroupingJob job, JobContext context) =>
        grouping.GroupAsync(job.DatasetId, context.Progress.ForFraction("grouping"), context.CancellationToken);
}

internal sealed class SplitJobHandler(SplitService splits) : JobHandler<SplitJob, SplitSummary>
{
    protected override Task<SplitSummary> RunAsync(SplitJob job, JobContext context) =>
        splits.CreateAsync(job.Request, context.Progress.ForFraction("grouping"), context.CancellationToken, context.Progress.ForFraction("leak check"));
}

internal sealed class LeakCheckJobHandler(SplitService splits) : JobHandler<LeakCheckJob, LeakCheckDone>
{
    protected override async Task<LeakCheckDone> RunAsync(LeakCheckJob job, JobContext context)
    {
        var checkedSplit = await splits.CheckLeaksAsync(job.Split, context.Progress.ForFraction("leak check"), context.CancellationToken);
        return new LeakCheckDone(checkedSplit.Name, checkedSplit.Report.LeakCheck?.SuspectPairs ?? 0);
    }
}

internal sealed class VersionJobHandler(DatasetVersionService versions) : JobHandler<VersionJob, DatasetVersionResult>
{
    protected override Task<DatasetVersionResult> RunAsync(VersionJob job, JobContext context) =>
        versions.CreateAsync(job.DatasetId, job.SplitId, null, context.Progress.ForFraction("leak check of the carried split"), context.CancellationToken);
}

internal sealed class LabelIssuesJobHandler(LabelIssueService labelIssues) : JobHandler<LabelIssuesJob, LabelIssueRunSummary>
{
    protected override Task<LabelIssueRunSummary> RunAsync(LabelIssuesJob job, JobContext context) =>
        labelIssues.RunAsync(job.Dataset, progress: new InlineProgress<LabelIssueProgress>(p => context.Progress.Report(new JobProgress(p.Fraction, p.Stage))),
            cancellationToken: context.CancellationToken);
}

/// <summary>A job that does nothing but be taken and finished: the queue's own cost, and a check that some worker answers.</summary>
/// <summary>
/// A job that does nothing but say which process ran it: the job system's own cost (<c>bench --only jobs</c>) and a check that a
/// node takes work. <paramref name="HoldSeconds"/> keeps it running that long, reporting each second (a job to watch, cancel, or
/// take over from a node that stops).
/// </summary>
public sealed record ProbeJob(string Label, int HoldSeconds = 0) : JobRequest
{
    public override JobKind Kind => JobKind.Probe;
    public override string Subject => "probe";
    public override string Description => $"probe {Label}";
    public override string CancelledNote => "nothing to keep";
}

/// <summary>Which process ran a probe.</summary>
public sealed record ProbeDone(string Node);

internal sealed class ProbeJobHandler : JobHandler<ProbeJob, ProbeDone>
{
    protected override async Task<ProbeDone> RunAsync(ProbeJob job, JobContext context)
    {
        for (int s = 0; s < job.HoldSeconds; s++)
        {
            context.Progress.Report(new JobProgress((double)s / job.HoldSeconds, $"held {s} of {job.HoldSeconds} s"));
            await Task.Delay(TimeSpan.FromSeconds(1), context.CancellationToken);
        }
        return new ProbeDone(WbcPortal.Storage.ProcessIdentity.Current.ToString());
    }
}
