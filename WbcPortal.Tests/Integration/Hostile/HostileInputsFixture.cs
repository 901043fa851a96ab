using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Classify;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Hostile;

/// <summary>The hostile-inputs table runs alone: it starts a portal and decodes many files, so it does not compete with heavy tests.</summary>
[CollectionDefinition(nameof(HostileInputsCollection), DisableParallelization = true)]
public sealed class HostileInputsCollection : ICollectionFixture<HostileInputsFixture>;

/// <summary>
/// One real portal (for the API, with a registered model) and the same services in process on a data folder of their own
/// (import, Classify, smears, evaluation uploads), both with a decode budget of <see cref="BudgetMegabytes"/> MB and small
/// zip limits (so count bombs stay small), and one exported model both use.
/// </summary>
public sealed class HostileInputsFixture : IAsyncLifetime
{
    public const int BudgetMegabytes = 256;
    public const int MaxFiles = 1000;
    public static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL"];

    public TempDirectory Root { get; } = new("wbc-hostile");
    public string PortalData => Path.Combine(Root.Path, "portal-data");
    public string LocalData => Path.Combine(Root.Path, "local-data");
    public PortalProcess Portal { get; private set; } = default!;
    public ServiceProvider Services { get; private set; } = default!;
    public ModelChoice Model { get; private set; } = default!;

    /// <summary>What each case did on each path, for the table in the session note (written when WBC_HOSTILE_TABLE names a file).</summary>
    public List<(string Case, string Path, string Outcome)> Outcomes { get; } = [];

    public async ValueTask InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Imaging:DecodeBudgetMegabytes"] = BudgetMegabytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Imaging:RequestWaitSeconds"] = "5",
            ["Import:MaxFiles"] = MaxFiles.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Inference:MaxImagesPerBatch"] = "200",
        };
        Directory.CreateDirectory(PortalData);
        Directory.CreateDirectory(LocalData);
        string modelFile = Path.Combine(Root.Path, "cells.onnx");
        using (var model = ClassifierOnnxExportTests.TrainedLooking(new ResNet18Backbone(PretrainedModelFiles.Default), HeadSpec.Linear, Labels.Length, seed: 3))
        {
            new ClassifierOnnxExporter(PretrainedModelFiles.Default).Export(model,
                new ClassifierOnnxMetadata(Labels, 64, 64, Temperature: 1.5, RejectThreshold: 0.6, RejectTargetAccuracy: 0.95), modelFile);
        }
        Directory.CreateDirectory(Path.Combine(LocalData, "models"));
        File.Copy(modelFile, Path.Combine(LocalData, "models", "cells.onnx"));

        await RegisterModelAsync(PortalData);
        Portal = await PortalProcess.StartOnAsync(PortalData, [.. settings.SelectMany(s => new[] { $"--{s.Key}={s.Value}" })]);

        Services = new ServiceCollection().AddPortalCoreForTests(LocalData, settings).BuildServiceProvider();
        await Services.MigrateAsync();
        Model = new ModelChoice("cells", Path.Combine(LocalData, "models", "cells.onnx"), null, null);
    }

    private string ModelFile => Path.Combine(Root.Path, "cells.onnx");

    /// <summary>A data folder of its own with the model registered and active.</summary>
    public async Task RegisterModelAsync(string data)
    {
        Directory.CreateDirectory(Path.Combine(data, "models"));
        File.Copy(ModelFile, Path.Combine(data, "models", "cells.onnx"));
        await using var services = new ServiceCollection().AddPortalCoreForTests(data).BuildServiceProvider();
        await services.MigrateAsync();
        var contexts = services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<WbcDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        db.Models.Add(new RegisteredModel { Name = "cells", OnnxPath = "models/cells.onnx", Labels = string.Join(",", Labels), InputHeight = 64, InputWidth = 64, IsActive = true, CreatedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Environment.GetEnvironmentVariable("WBC_HOSTILE_TABLE") is { Length: > 0 } file)
        {
            lock (Outcomes)
            {
                var lines = new List<string> { "| case | path | outcome |", "| --- | --- | --- |" };
                lines.AddRange(Outcomes.Select(o => $"| {o.Case} | {o.Path} | {o.Outcome.Replace("|", "\\|").ReplaceLineEndings(" ")} |"));
                File.WriteAllLines(file, lines);
            }
        }
        await Portal.DisposeAsync();
        await Services.DisposeAsync();
        Root.Dispose();
    }
}
