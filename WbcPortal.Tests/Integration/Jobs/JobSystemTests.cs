using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Jobs;

/// <summary>
/// Issue 27 item 1: one stored, typed job system on Hangfire. On the real parts (SQLite, Hangfire's SQLite storage, the
/// data folder's staging area, the real import): queued work survives a restart, a job left running by a dead process
/// ends Failed with its reason, and each job runs exactly once.
/// </summary>
public sealed class JobSystemTests : IDisposable
{
    private readonly TempDirectory data = new("wbc-jobs");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ServiceProvider> PortalAsync()
    {
        var provider = new ServiceCollection().AddPortalCoreForTests(data.Path).AddJobsForTests(data.Path).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    [Fact]
    public async Task A_queued_import_and_its_staged_upload_survive_a_restart_and_run_once_after_it()
    {
        Guid id;
        string folder;
        await using (var first = await PortalAsync())
        {
            // Queued while no worker runs (the portal stops before taking it).
            var staging = first.GetRequiredService<UploadStaging>();
            var lease = staging.Reserve(64 * 1024, "upload of cells.zip");
            folder = lease.Folder;
            var zip = Path.Combine(folder, "upload.zip");
            ImportFixtures.Zip(zip, [("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("NEUTROPHIL/b.jpg", ImportFixtures.Jpeg(2)), ("NEUTROPHIL/c.jpg", ImportFixtures.Jpeg(3))]);
            var queued = await first.GetRequiredService<PortalJobs>().EnqueueAsync(new ImportJob("cells", folder, "zip cells.zip", zip, "cells.zip"), lease, Ct);
            id = queued.Id;
            Assert.Equal(JobState.Queued, queued.State);
        }

        await using var second = await PortalAsync();
        // The start-up order of the portal: queued jobs take their staged uploads back, then the sweep removes the rest.
        var jobs = second.GetRequiredService<PortalJobs>();
        var stagingAgain = second.GetRequiredService<UploadStaging>();
        File.WriteAllText(Path.Combine(stagingAgain.Root, "left-over.tmp"), "x");
        Assert.Equal(1, await jobs.AdoptQueuedInputsAsync(Ct));
        await stagingAgain.SweepAsync(Ct);
        Assert.True(Directory.Exists(folder));
        Assert.False(File.Exists(Path.Combine(stagingAgain.Root, "left-over.tmp")));

        await using (await second.StartJobsAsync(Ct))
        {
            Assert.Equal(JobState.Queued, jobs.Find(id)?.State); // on the board after the restart, before it runs
            var done = await jobs.FinishedAsync(id);
            Assert.True(done.State == JobState.Succeeded, done.Error);
            Assert.Equal(3, ((DatasetImportSummary)done.Result!).Images);
            Assert.False(Directory.Exists(folder));
        }
        var dataset = await second.GetRequiredService<DatasetService>().GetAsync("cells", Ct);
        Assert.Equal(3, (await second.GetRequiredService<DatasetService>().GetImagesAsync(dataset.Id, Ct)).Count);
        await using var db = await second.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
        var record = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id, Ct);
        Assert.Equal(JobState.Succeeded, record.State);
        Assert.NotNull(record.StartedAt);
        Assert.NotNull(record.ResultJson);
        // Exactly once: one import of the zip recorded.
        Assert.Equal(1, await db.Imports.CountAsync(Ct));
    }

    [Fact]
    public async Task A_job_left_running_by_a_process_that_is_gone_ends_Failed_with_its_reason_and_its_stored_result_is_read_back()
    {
        var now = DateTimeOffset.UtcNow;
        await using (var first = await PortalAsync())
        {
            await using var db = await first.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
            db.Jobs.Add(new JobRecord
            {
                Id = Guid.Parse("00000000-0000-0000-0000-000000000001"), Kind = JobKind.Grouping, Subject = "cells", Description = "finding source groups",
                State = JobState.Running, RequestJson = """{"datasetId":1,"dataset":"cells"}""", ActorJson = "{}",
                // A process on this host that no longer exists (pid 1 never started at tick 1).
                Node = $"{Environment.MachineName}:1:1", QueuedAt = now, StartedAt = now, UpdatedAt = now,
            });
            db.Jobs.Add(new JobRecord
            {
                Id = Guid.Parse("00000000-0000-0000-0000-000000000002"), Kind = JobKind.LeakCheck, Subject = "cells", Description = "leak check of split s1",
                State = JobState.Succeeded, RequestJson = """{"dataset":"cells","split":"s1"}""", ResultJson = """{"split":"s1","pairs":3}""", ActorJson = "{}",
                QueuedAt = now.AddMinutes(-1), FinishedAt = now, UpdatedAt = now,
            });
            await db.SaveChangesAsync(Ct);
        }
        await using var portal = await PortalAsync();
        var jobs = portal.GetRequiredService<PortalJobs>();
        await using (await portal.StartJobsAsync(Ct))
        {
            var orphan = jobs.Find(Guid.Parse("00000000-0000-0000-0000-000000000001"));
            Assert.Equal(JobState.Failed, orphan?.State);
            Assert.Contains("stopped before it finished", orphan!.Error);
            Assert.Equal(new GroupingJob(1, "cells"), orphan.Request);
            var check = jobs.Find(Guid.Parse("00000000-0000-0000-0000-000000000002"));
            Assert.Equal(new LeakCheckDone("s1", 3), check?.Result);
            Assert.Equal(new LeakCheckJob("cells", "s1"), check?.Request);
            Assert.Equal("leak-check", check?.KindName);
        }
    }

    [Fact]
    public async Task With_take_over_a_job_running_when_its_process_stops_goes_back_to_the_queue_and_the_next_start_finishes_it()
    {
        var takeOver = new Dictionary<string, string?> { ["Jobs:TakeOver"] = "true" };
        Guid id;
        await using (var first = await PortalWithAsync(takeOver))
        {
            var jobs = first.GetRequiredService<PortalJobs>();
            await using (await first.StartJobsAsync(Ct))
            {
                id = (await jobs.EnqueueAsync(new ProbeJob("held", HoldSeconds: 30), cancellationToken: Ct)).Id;
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (jobs.Find(id)?.Progress.Text.StartsWith("held 1", StringComparison.Ordinal) != true)
                {
                    Assert.True(DateTime.UtcNow < deadline, $"the held job did not get under way: {jobs.Find(id)?.State} {jobs.Find(id)?.Progress.Text}");
                    await Task.Delay(50, Ct);
                }
            } // the process's job servers stop here, with the job running
            await using var db = await first.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct);
            var record = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id, Ct);
            Assert.Equal(JobState.Queued, record.State);
            Assert.Null(record.Error);
            Assert.Equal(0, record.Attempts); // a stop is not the job's failure: it keeps its starts
        }
        await using var second = await PortalWithAsync(takeOver);
        var again = second.GetRequiredService<PortalJobs>();
        await using (await second.StartJobsAsync(Ct))
        {
            var done = await again.FinishedAsync(id, seconds: 90);
            Assert.Equal(JobState.Succeeded, done.State);
        }
    }

    private async Task<ServiceProvider> PortalWithAsync(IDictionary<string, string?> settings)
    {
        var provider = new ServiceCollection().AddPortalCoreForTests(data.Path, settings).AddJobsForTests(data.Path).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    [Fact]
    public async Task The_last_step_reported_before_a_long_wait_reaches_the_board_while_the_job_waits()
    {
        await using var services = new ServiceCollection().AddPortalCoreForTests(data.Path).AddJobsForTests(data.Path).AddScriptedJobs<ProbeJob>().BuildServiceProvider();
        await services.MigrateAsync();
        var release = new TaskCompletionSource();
        services.GetRequiredService<ScriptedWork>().On("probe trailing", async c =>
        {
            // Two steps within the throttle's quarter second, then a long wait (a model calibrating after averaging).
            c.Progress.Report(new JobProgress(0.1, "averaging"));
            c.Progress.Report(new JobProgress(0.2, "calibrating"));
            await release.Task.WaitAsync(c.CancellationToken);
            return new ProbeDone("scripted");
        });
        var jobs = services.GetRequiredService<PortalJobs>();
        await using (await services.StartJobsAsync(Ct))
        {
            var id = (await jobs.EnqueueAsync(new ProbeJob("trailing"), cancellationToken: Ct)).Id;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (jobs.Find(id) is not { State: JobState.Running, Progress.Text: "calibrating" })
            {
                Assert.True(DateTime.UtcNow < deadline, $"the board shows {jobs.Find(id)?.State} '{jobs.Find(id)?.Progress.Text}' while the job waits after 'calibrating'");
                await Task.Delay(20, Ct);
            }
            release.SetResult();
            Assert.Equal(JobState.Succeeded, (await jobs.FinishedAsync(id)).State);
        }
    }

    [Fact]
    public async Task A_job_changed_by_another_node_shows_on_this_nodes_board()
    {
        await using var portal = await PortalAsync();
        var jobs = portal.GetRequiredService<PortalJobs>();
        await using var running = await portal.StartJobsAsync(Ct);
        var changes = new List<JobView>();
        using var subscription = jobs.Subscribe(v => { lock (changes) changes.Add(v); });
        var id = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        // Another node's worker writes the database only.
        await using (var db = await portal.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(Ct))
        {
            db.Jobs.Add(new JobRecord
            {
                Id = id, Kind = JobKind.LabelIssues, Subject = "cells", Description = "label issues over 5 group folds", State = JobState.Running,
                ProgressFraction = 0.5, ProgressText = "fold 3 of 5", RequestJson = """{"dataset":"cells"}""", ActorJson = "{}", Node = "other-host:42:7",
                QueuedAt = now, StartedAt = now, UpdatedAt = now,
            });
            await db.SaveChangesAsync(Ct);
        }
        // The board is written before subscribers hear of it: wait for the notification itself.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        bool Heard() { lock (changes) return changes.Any(c => c.Id == id && c.Progress.Text == "fold 3 of 5"); }
        while (!Heard() && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);
        Assert.True(Heard(), "no change notification for the job another node wrote");
        Assert.Equal("fold 3 of 5", jobs.Find(id)?.Progress.Text);
        Assert.True(jobs.IsBusy(JobKind.LabelIssues, "cells"));
    }

    public void Dispose() => data.Dispose();
}

/// <summary>Every kind has its handler, and every request survives the store (JSON) as it was asked.</summary>
public sealed class JobKindsTests
{
    public static TheoryData<JobRequest> Requests() => new()
    {
        new ImportJob("cells", "/data/uploads/abc", "zip cells.zip", "/data/uploads/abc/upload.zip", "cells.zip"),
        new GroupingJob(3, "cells"),
        new SplitJob("cells", new WbcPortal.Services.Splits.SplitRequest("3", WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Grouped,
            new WbcPortal.Engine.Datasets.Splitting.SplitRatios(0.8, 0.1, 0.1), 42, "s42", false, WbcPortal.Engine.Datasets.Grouping.GroupingMargin.Cautious, KeepSuspectsTogether: true)),
        new LeakCheckJob("cells", "s42"),
        new VersionJob(3, "cells", 7, 12),
        new LabelIssuesJob("cells"),
        new WbcPortal.Services.Evaluation.EvaluateJob(5, "split s42 / test", Split: "s42", Part: "test"),
        new ProbeJob("1 of 10"),
        new WbcPortal.Services.Classify.ClassifyBatchJob("b1", "model-3", 4),
        new WbcPortal.Services.Smears.SmearBatchJob("s1", "model-3", 2),
        new WbcPortal.Services.Review.NeighbourIndexJob(12),
        new WbcPortal.Services.Exploration.ExplorationJob(3, "cells", "0123456789abcdef", 300),
        new WbcPortal.Services.Training.CrossValidationModelJob(4, "cv-s42"),
    };

    [Fact]
    public async Task Every_kind_has_exactly_one_handler_and_a_request_type()
    {
        using var data = new TempDirectory("wbc-kinds");
        // Some handlers' services (model serving) are disposed only asynchronously.
        await using var provider = new ServiceCollection().AddPortalCoreForTests(data.Path).AddJobsForTests(data.Path).BuildServiceProvider();
        var handlers = provider.GetServices<IJobHandler>().ToList();
        Assert.Equal(Enum.GetValues<JobKind>().Order(), handlers.Select(h => h.Kind).Order());
        Assert.Equal(Enum.GetValues<JobKind>().Order(), Requests().Select(r => ((JobRequest)r.Data).Kind).Order());
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public void A_request_reads_back_from_the_store_as_it_was_asked(JobRequest request)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(request, request.GetType(), PortalJobs.Json);
        var back = System.Text.Json.JsonSerializer.Deserialize(json, request.GetType(), PortalJobs.Json);
        Assert.Equal(request, back);
        Assert.False(string.IsNullOrWhiteSpace(request.Description));
        Assert.False(string.IsNullOrWhiteSpace(request.CancelledNote));
    }
}
