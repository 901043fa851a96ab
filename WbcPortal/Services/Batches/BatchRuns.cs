using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Batches;

/// <summary>
/// Where a stored batch (Classify's, the Smears page's) stands: its job's state while the board holds its job, else what
/// its stored outcome says, else cut short. The job system runs a batch; the batch's store keeps its images and answers.
/// </summary>
public static class BatchRuns
{
    /// <summary>The reason shown for a batch whose job no longer says and that has no stored outcome: a stop cut it short.</summary>
    public const string InterruptedReason = "the portal stopped before this batch finished";

    /// <param name="run">The batch's newest job on the board (null: the board no longer holds it).</param>
    /// <param name="stored">Its stored outcome's state and reason (null: it never ended).</param>
    public static (JobState State, string? Error) StateOf(JobView? run, (bool Succeeded, string? Error)? stored) => run switch
    {
        { Finished: false } => (run.State, null),
        { State: JobState.Failed } => (JobState.Failed, run.Error),
        { State: JobState.Cancelled } => (JobState.Cancelled, null),
        _ when stored is { } s => s.Succeeded ? (JobState.Succeeded, null) : (JobState.Failed, s.Error),
        { State: JobState.Succeeded } => (JobState.Succeeded, null),
        _ => (JobState.Failed, InterruptedReason),
    };

    /// <summary>"3 of 12 images" while it runs: the job's own line.</summary>
    public static int Done(JobState state, JobProgress progress, int total) =>
        state == JobState.Succeeded ? total : Math.Clamp((int)Math.Round(progress.Fraction * total), 0, total);

    /// <summary>Reports "n of total what" to the job, never going back (images answered out of order report out of order).</summary>
    public static IProgress<int> Counting(this JobContext context, int total, string what)
    {
        int best = 0;
        var gate = new object();
        // Under one lock: a lower count reported late must never land after a higher one (the last report is the job's final progress).
        return new InlineProgress<int>(n =>
        {
            lock (gate)
            {
                if (n <= best) return;
                best = n;
                context.Progress.Report(new JobProgress(total == 0 ? 1 : (double)n / total, $"{n:N0} of {total:N0} {what}"));
            }
        });
    }
}
