using System.Text.Json;
using Bunit;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using WbcPortal.Components.Pages.Datasets;
using WbcPortal.Components.Pages.Training;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>The Training page never starts on a split without a test or validation part unless the user confirms; dataset job cards cancel.</summary>
public class TrainingPageComponentTests : PortalTestContext
{
    private sealed class RecordingJobClient : IBackgroundJobClient
    {
        public List<Job> Created { get; } = [];
        public string Create(Job job, IState state)
        {
            Created.Add(job);
            return Created.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        public bool ChangeState(string jobId, IState state, string expectedState) => true;
    }

    private readonly RecordingJobClient hangfire = new();

    public TrainingPageComponentTests()
    {
        Services.AddSingleton<IBackgroundJobClient>(hangfire);
        Services.AddSingleton<RunStopRegistry>();
        Services.AddSingleton<TrainingLauncher>();
    }

    /// <summary>A split row as an older portal could leave it: <paramref name="empty"/> parts hold no image.</summary>
    private async Task AddSplitAsync(string name, params string[] empty)
    {
        var contexts = Services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        var dataset = await db.Datasets.SingleOrDefaultAsync(d => d.Name == "cells") ?? db.Datasets.Add(new Dataset { Name = "cells", CreatedAt = DateTimeOffset.UtcNow }).Entity;
        await db.SaveChangesAsync();
        var parts = SplitParts.All.ToDictionary(p => p, p => (IReadOnlyDictionary<string, int>)(empty.Contains(p)
            ? new Dictionary<string, int>()
            : new Dictionary<string, int> { ["EOSINOPHIL"] = 10, ["NEUTROPHIL"] = 10 }));
        var report = new SplitReport(SplitStrategy.Grouped, "0.7,0.15,0.15", 42, parts, 20, SplitParts.All.ToDictionary(p => p, _ => 5), 0, 0, false, 0.01);
        db.Splits.Add(new Split
        {
            DatasetId = dataset.Id, Name = name, Strategy = SplitStrategy.Grouped, Ratios = "0.7,0.15,0.15", CreatedAt = DateTimeOffset.UtcNow,
            ReportJson = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)),
        });
        await db.SaveChangesAsync();
    }

    [Fact]
    public async Task A_split_without_a_test_part_is_never_preselected_is_marked_and_a_run_on_it_needs_a_confirmation()
    {
        await Services.MigrateAsync();
        await AddSplitAsync("complete");
        await AddSplitAsync("no-test", SplitParts.Test); // newer: the page lists newest first

        Render<MudPopoverProvider>();
        var page = Render<TrainingPage>();
        var select = page.FindComponent<MudSelect<string>>();
        #pragma warning disable MUD0012 // reading the selected value back, not setting it
        page.WaitForAssertion(() => Assert.Equal("complete", select.Instance.Value));
#pragma warning restore MUD0012
        Assert.Empty(page.FindAll("[data-testid=incomplete-split-warning]"));

        // Only an incomplete split: nothing is preselected and nothing can start.
        var all = await Services.GetRequiredService<Services.Splits.SplitService>().ListAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null(TrainingChoices.Preselect(all.Where(s => s.Name == "no-test").ToList()));
        var labels = all.ToDictionary(s => s.Name, TrainingChoices.Label);
        Assert.Equal("no-test (grouped, no test part)", labels["no-test"]);
        Assert.Equal("complete (grouped)", labels["complete"]);

        await page.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync("no-test"));
        var warning = page.WaitForElement("[data-testid=incomplete-split-warning]");
        Assert.Contains("no test part", warning.TextContent);
        Assert.True(page.Find("[data-testid=start-run]").HasAttribute("disabled"));

        page.Find("input[data-testid=confirm-incomplete]").Change(true);
        page.WaitForAssertion(() => Assert.False(page.Find("[data-testid=start-run]").HasAttribute("disabled")));

        // Choosing another split and back asks again.
        await page.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync("complete"));
        await page.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync("no-test"));
        page.WaitForAssertion(() => Assert.True(page.Find("[data-testid=start-run]").HasAttribute("disabled")));
        Assert.Empty(hangfire.Created);
    }

    [Fact]
    public void Cuda_is_offered_only_where_it_can_be_used_and_otherwise_says_why()
    {
        var devices = TrainingChoices.Devices(Services.GetRequiredService<WbcPortal.Engine.Compute.TorchRuntime>());
        Assert.Equal(["auto", "cpu", "cuda"], devices.Select(d => d.Value));
        Assert.True(devices.Single(d => d.Value == "cpu").Available);
        var cuda = devices.Single(d => d.Value == "cuda");
        if (!cuda.Available) Assert.Contains("no usable GPU", cuda.Reason);
        else Assert.Null(cuda.Reason);
    }

    [Fact]
    public void A_grouping_card_names_its_margin_and_the_other_cuts_count()
    {
        var summary = new WbcPortal.Services.Grouping.GroupingSummary(1, 106, new Dictionary<string, int> { ["EOSINOPHIL"] = 50, ["NEUTROPHIL"] = 56 }, 3, 1.2)
        {
            Margin = WbcPortal.Engine.Datasets.Grouping.GroupingMargin.Standard,
            Cuts = [new(WbcPortal.Engine.Datasets.Grouping.GroupingMargin.Standard, 106, 7), new(WbcPortal.Engine.Datasets.Grouping.GroupingMargin.Cautious, 62, 7)],
        };
        Services.AddJobsForTests(DataDirectory);
        var card = Render<JobCard>(p => p.Add(c => c.Job, new JobView
        {
            Id = Guid.NewGuid(), Kind = JobKind.Grouping, Subject = "cells", Description = "finding source groups", State = JobState.Succeeded, Result = summary,
        }));
        Assert.Equal("Found 106 source groups at the standard margin (62 at the cautious margin, which a split may choose) in 1.2 s (EOSINOPHIL 50, NEUTROPHIL 56).",
            card.Find("[data-testid=grouping-result]").TextContent.Trim());
    }

    [Fact]
    public async Task A_dataset_job_card_cancels_its_job_and_shows_Cancelled_with_what_was_kept()
    {
        Services.AddJobsForTests(DataDirectory).AddScriptedJobs<GroupingJob>();
        await Services.MigrateAsync();
        var jobs = Services.GetRequiredService<PortalJobs>();
        await using var running = await Services.StartJobsAsync(TestContext.Current.CancellationToken);
        var started = new TaskCompletionSource();
        Services.GetRequiredService<ScriptedWork>().On("finding source groups", async context =>
        {
            context.Progress.Report(new JobProgress(0.3, "grouping: 30 %"));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new object();
        });
        var job = await jobs.EnqueueAsync(new GroupingJob(1, "cells"), cancellationToken: TestContext.Current.CancellationToken);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        var card = Render<JobCard>(p => p.Add(c => c.Job, jobs.Find(job.Id)!));
        card.Find("[data-testid=job-cancel]").Click();
        // The card re-renders when its page does (the page subscribes to job changes); here the test does it.
        var done = await jobs.FinishedAsync(job.Id, 30);
        card.Render(p => p.Add(c => c.Job, done));
        Assert.Equal("Cancelled", card.Find("[data-testid=job-state]").TextContent.Trim());
        var text = card.Find("[data-testid=job-cancelled]").TextContent;
        Assert.Contains("Cancelled at grouping: 30 %", text);
        Assert.Contains("the source groups found before, if any, are unchanged", text);
        Assert.Empty(card.FindAll("[data-testid=job-cancel]"));
    }
}
