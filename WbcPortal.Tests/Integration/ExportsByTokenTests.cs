using WbcPortal.Engine.Training;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Smears;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 26 item 2: every export a page offers has an address a script can fetch with an API token, no browser: the
/// Classify batch's CSV, the smear report (HTML, CSV, JSON), a run's report (JSON, CSV, HTML) and an evaluation's
/// predictions (CSV, JSON), a dataset's review decisions, the audit (Admin only), a model's ONNX file. A real portal on
/// a data folder holding a finished Classify batch, a smear batch, a seeded run and a reviewed dataset.
/// </summary>
public sealed class ExportsByTokenTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDirectory data = new("wbc-exports");
    private PortalProcess portal = default!;
    private string classifyBatch = "", smearBatch = "";
    private int runId, evaluationId, datasetId, modelId;

    public async ValueTask InitializeAsync()
    {
        await using (var services = new ServiceCollection().AddPortalCoreForTests(data.Path).AddSingleton(TimeProvider.System).AddJobsForTests(data.Path).BuildServiceProvider())
        {
            await services.MigrateAsync();
            string[] labels = ["EOSINOPHIL", "NEUTROPHIL"];
            using (var model = ClassifierOnnxExportTests.TrainedLooking(new ResNet18Backbone(PretrainedModelFiles.Default), HeadSpec.Linear, labels.Length, seed: 3))
            {
                new ClassifierOnnxExporter(PretrainedModelFiles.Default).Export(model,
                    new ClassifierOnnxMetadata(labels, 64, 64, Temperature: 1.5, RejectThreshold: 0.6, RejectTargetAccuracy: 0.95), Path.Combine(data.Path, "models", "cells.onnx"));
            }
            var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
            await using (var db = await contexts.CreateDbContextAsync(Ct))
            {
                var registered = new RegisteredModel { Name = "cells", OnnxPath = "models/cells.onnx", Labels = string.Join(",", labels), InputHeight = 64, InputWidth = 64, IsActive = true, CreatedAt = DateTimeOffset.UtcNow };
                db.Models.Add(registered);
                await db.SaveChangesAsync(Ct);
                modelId = registered.Id;
            }
            var choice = (await services.GetRequiredService<PredictionService>().ActiveAsync(Ct))!;

            await using var running = await services.StartJobsAsync(Ct);
            var classify = services.GetRequiredService<ClassifyJobs>();
            classifyBatch = (await classify.EnqueueAsync(choice, [new PredictionInput("cell.png", Png()), new PredictionInput("broken.png", [0x89, 0x50, 1])], [], Ct)).Id;
            var smears = services.GetRequiredService<SmearJobs>();
            smearBatch = (await smears.EnqueueAsync(choice, SmearBatchesTests.Smears(), [], Ct)).Id;
            for (int i = 0; i < 600 && (classify.Get(classifyBatch)?.Finished != true || smears.Get(smearBatch)?.Finished != true); i++) await Task.Delay(100, Ct);
            Assert.Equal(WbcPortal.Services.Jobs.JobState.Succeeded, classify.Get(classifyBatch)!.State);
            Assert.Equal(WbcPortal.Services.Jobs.JobState.Succeeded, smears.Get(smearBatch)!.State);

            runId = await RunSeeds.AddRunAsync(services, "seeded-run", WbcPortal.Tests.Integration.Training.RunComparisonTests.ConfigA, quality: 0.8, storePredictions: true);
            await using (var db = await contexts.CreateDbContextAsync(Ct))
            {
                evaluationId = await db.RunEvaluations.Where(e => e.RunId == runId && e.Stage == TrainingStage.Model).Select(e => e.Id).SingleAsync(Ct);
            }
            datasetId = (await ReviewSeed.WriteAsync(services)).DatasetId;
        }
        portal = await PortalProcess.StartOnAsync(data.Path);
    }

    public async ValueTask DisposeAsync()
    {
        await portal.DisposeAsync();
        data.Dispose();
    }

    private static byte[] Png()
    {
        using var image = TestImages.Smear(80, 60, 1);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    [Fact]
    public async Task Every_export_a_page_offers_answers_an_api_token_without_a_browser()
    {
        using var viewer = portal.CreateClientWithToken(await portal.CreateTokenAsync("lims", PortalRole.Viewer));
        // (the page that offers it, the address, the media type, how its body starts)
        (string Page, string Url, string Type, string Start)[] exports =
        [
            ("Classify", $"api/classify/{classifyBatch}.csv", "text/csv", "file,answer,confidence,guess,p_EOSINOPHIL,p_NEUTROPHIL,error"),
            ("Smears", $"api/smears/{smearBatch}/report.html", "text/html", "<!doctype html>"),
            ("Smears", $"api/smears/{smearBatch}/report.csv", "text/csv", ""),
            ("Smears", $"api/smears/{smearBatch}/report.json", "application/json", "{"),
            ("Run report", $"api/runs/{runId}/report.json", "application/json", "{"),
            ("Run report", $"api/runs/{runId}/report.csv", "text/csv", ""),
            ("Run report", $"api/runs/{runId}/report.html", "text/html", "<!doctype html>"),
            ("Run report", $"api/runs/{runId}/evaluations/{evaluationId}/predictions.csv", "text/csv", ""),
            ("Run report", $"api/runs/{runId}/evaluations/{evaluationId}/predictions.json", "application/json", "{"),
            ("Dataset, Review", $"api/datasets/{datasetId}/review-decisions.csv", "text/csv", ""),
            ("Models", $"api/v1/models/{modelId}/onnx", "application/octet-stream", ""),
        ];
        var failures = new List<string>();
        foreach (var (page, url, type, start) in exports)
        {
            using var response = await viewer.GetAsync(url, Ct);
            string body = await response.Content.ReadAsStringAsync(Ct);
            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != type || body.Length == 0
                || !body.TrimStart('\uFEFF').StartsWith(start, StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{page}: {url}: {(int)response.StatusCode} {response.Content.Headers.ContentType} {body[..Math.Min(body.Length, 120)]}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The audit is an Admin's: the same address with an Admin token, a problem document for a Viewer's.
        using var admin = portal.CreateClient();
        using var audit = await admin.GetAsync("audit.csv", Ct);
        Assert.Equal(HttpStatusCode.OK, audit.StatusCode);
        Assert.Equal("text/csv", audit.Content.Headers.ContentType?.MediaType);
        Assert.False(string.IsNullOrWhiteSpace(await audit.Content.ReadAsStringAsync(Ct)));
        using var refused = await viewer.GetAsync("audit.csv", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }
}
