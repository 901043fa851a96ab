using Bunit;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using WbcPortal.Components.Pages.Datasets;
using WbcPortal.Extensions;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>
/// The import panel owns the upload it is copying: a page left mid-upload gives the staging space back at once and
/// queues nothing; an upload that completes hands its lease to the import job.
/// </summary>
public sealed class ImportPanelStagingTests : PortalTestContext
{
    public ImportPanelStagingTests()
    {
        Services.AddJobsForTests(DataDirectory);
        Services.AddCircuitUploads();
    }

    private async Task<IRenderedComponent<ImportPanel>> RenderPanelAsync()
    {
        await Services.MigrateAsync();
        var panel = Render<ImportPanel>();
        panel.Find("input[data-testid=dataset-name]").Input("cells");
        return panel;
    }

    [Fact]
    public async Task A_page_left_mid_upload_releases_its_staging_space_and_folder_and_queues_nothing()
    {
        var panel = await RenderPanelAsync();
        var staging = Services.GetRequiredService<UploadStaging>();
        var uploads = Services.GetRequiredService<CircuitUploads>();
        var file = TestBrowserFiles.Stalling("cells.zip", 50L << 20, sentBytes: 512 * 1024);

        var upload = panel.InvokeAsync(() => panel.FindComponent<MudFileUpload<IBrowserFile>>().Instance.FilesChanged.InvokeAsync(file));
        await file.Sent.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        var folder = Assert.Single(Directory.GetDirectories(staging.Root));
        Assert.True(staging.IsInUse(folder));
        Assert.Equal(50L << 20, staging.UsedBytes());
        Assert.Equal(1, uploads.Count);

        await DisposeComponentsAsync(); // the user navigates away: the panel is disposed with its page
        await upload.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.False(Directory.Exists(folder));
        Assert.Empty(Directory.GetFileSystemEntries(staging.Root));
        Assert.Equal(0, staging.UsedBytes());
        Assert.Equal(0, uploads.Count);
        Assert.Empty(Services.GetRequiredService<PortalJobs>().Recent());
    }

    [Fact]
    public async Task A_completed_upload_hands_its_lease_to_the_import_job_which_releases_it_when_it_ends()
    {
        var panel = await RenderPanelAsync();
        var staging = Services.GetRequiredService<UploadStaging>();
        var jobs = Services.GetRequiredService<PortalJobs>();
        await using var running = await Services.StartJobsAsync(TestContext.Current.CancellationToken);
        string zipPath = Path.Combine(DataDirectory, "cells.zip");
        ImportFixtures.Zip(zipPath, [("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("NEUTROPHIL/b.jpg", ImportFixtures.Jpeg(2))]);
        var file = TestBrowserFiles.Complete("cells.zip", File.ReadAllBytes(zipPath));

        await panel.InvokeAsync(() => panel.FindComponent<MudFileUpload<IBrowserFile>>().Instance.FilesChanged.InvokeAsync(file));
        var job = Assert.Single(jobs.Recent());
        Assert.Equal(JobKind.Import, job.Kind);
        // Leaving the page now does not take the upload from its job.
        await DisposeComponentsAsync();
        var done = await jobs.FinishedAsync(job.Id);
        Assert.True(done.State == JobState.Succeeded, done.Error);
        Assert.Equal(2, ((DatasetImportSummary)done.Result!).Images);
        Assert.Empty(Directory.GetFileSystemEntries(staging.Root));
        Assert.Equal(0, staging.UsedBytes());
    }
}
