using Microsoft.EntityFrameworkCore;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Training;

/// <summary>Making one deployable model from cross-validation <paramref name="CrossValidationId"/>'s fold models, on the job system.</summary>
public sealed record CrossValidationModelJob(int CrossValidationId, string CrossValidation) : JobRequest
{
    public override JobKind Kind => JobKind.CrossValidationModel;
    public override string Subject => SubjectOf(CrossValidationId);
    public override string Description => $"one deployable model from cross-validation '{CrossValidation}'";
    public override string CancelledNote => "no model was registered; its half-made file was removed";

    /// <summary>The board's subject of a cross-validation's model jobs.</summary>
    public static string SubjectOf(int crossValidationId) => $"cross-validation {crossValidationId}";
}

/// <summary>Runs a <see cref="CrossValidationModelJob"/> (<see cref="CrossValidationModels.MakeAsync"/>, as the one who queued it); its result is the model made.</summary>
internal sealed class CrossValidationModelJobHandler(CrossValidationModels models) : JobHandler<CrossValidationModelJob, CrossValidationModel>
{
    protected override Task<CrossValidationModel> RunAsync(CrossValidationModelJob job, JobContext context) =>
        models.MakeAsync(job.CrossValidationId, context.Progress, context.CancellationToken);
}

/// <summary>
/// The cross-validation page's side of making its model: a typed way to queue it, and its newest job on the board (its
/// progress, Cancel, the failure's reason, or the model made: the job's stored result, found again after a restart).
/// </summary>
public sealed class CrossValidationModelJobs(PortalJobs jobs, IDbContextFactory<WbcDbContext> contexts, AccessControl access)
{
    /// <summary>The newest job making the model of a cross-validation, or null.</summary>
    public JobView? Latest(int crossValidationId) => jobs.Recent(JobKind.CrossValidationModel, CrossValidationModelJob.SubjectOf(crossValidationId)).FirstOrDefault();

    public static bool Concerns(JobView change, int crossValidationId) =>
        change.Kind == JobKind.CrossValidationModel && change.Subject == CrossValidationModelJob.SubjectOf(crossValidationId);

    /// <summary>Queues making the model; one at a time per cross-validation (the one going on is returned).</summary>
    [Demands(PortalAction.ManageModels)]
    public async Task<JobView> EnqueueAsync(int crossValidationId, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageModels);
        if (Latest(crossValidationId) is { Finished: false } going) return going;
        string name;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            name = await db.CrossValidations.AsNoTracking().Where(c => c.Id == crossValidationId).Select(c => c.Name).SingleOrDefaultAsync(cancellationToken)
                   ?? throw new ArgumentException($"No cross-validation {crossValidationId}.");
        }
        return await jobs.EnqueueAsync(new CrossValidationModelJob(crossValidationId, name), cancellationToken: cancellationToken);
    }
}
