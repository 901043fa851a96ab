using MudBlazor;
using WbcPortal.Services;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Components.Shared;

/// <summary>A page's button that queues a job: on a refusal (a role, a read-only portal, a released upload) it says why and the page stays.</summary>
public static class JobQueueing
{
    public static async Task<JobView?> EnqueueOrSayWhyAsync(this PortalJobs jobs, JobRequest request, ISnackbar snackbar, Services.Datasets.StagingLease? input = null)
    {
        try
        {
            return await jobs.EnqueueAsync(request, input);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            snackbar.Add($"Not queued: {UserFacingError.Describe(ex)}", Severity.Error);
            return null;
        }
    }
}
