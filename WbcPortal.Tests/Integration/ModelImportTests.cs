using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Services.Classify;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Importing an ONNX classifier into the catalog on real SQLite and a real data folder: a fitting file becomes a new
/// file and an inactive model that classifies; every refusal (a taken name, a file that does not fit, one too large, a
/// row that cannot be added) leaves what was stored as it was and keeps nothing of the attempt.
/// </summary>
public sealed class ModelImportTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IAsyncDisposable
{
    private readonly TempDirectory data = new("wbc-model-import");
    private ServiceProvider? provider;

    private async Task<ModelCatalog> CatalogAsync(IDictionary<string, string?>? settings = null)
    {
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path, settings).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider.GetRequiredService<ModelCatalog>();
    }

    private string ImportFolder => Path.Combine(data.Path, "models", "imported");

    private string[] ImportedFiles() => Directory.Exists(ImportFolder)
        ? Directory.GetFiles(ImportFolder, "*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray()
        : [];

    private async Task<List<RegisteredModel>> RowsAsync()
    {
        await using var db = await provider!.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(TestContext.Current.CancellationToken);
        return await db.Models.AsNoTracking().OrderBy(m => m.Id).ToListAsync(TestContext.Current.CancellationToken);
    }

    private Task<ModelCard> ImportAsync(ModelCatalog catalog, string name, byte[] bytes, IProgress<long>? progress = null) =>
        catalog.ImportAsync(name, new MemoryStream(bytes), bytes.Length, progress, TestContext.Current.CancellationToken);

    private byte[] WithThreeLabels()
    {
        string path = Path.Combine(data.Path, "three-labels.onnx");
        File.WriteAllBytes(path, fixture.Bytes);
        ModelProtoFile.RewriteMetadata(path, m => m with { Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE"] });
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    [Fact]
    public async Task A_fitting_file_is_stored_as_a_new_inactive_model_that_classifies()
    {
        var catalog = await CatalogAsync();
        var progress = new List<long>();

        var card = await ImportAsync(catalog, "external resnet", fixture.Bytes, new SyncProgress(progress.Add));

        Assert.True(card.Imported);
        Assert.False(card.Active);
        Assert.Null(card.RunId);
        Assert.Null(card.Figures);
        Assert.False(card.FileMissing);
        Assert.Equal(ClassifierOnnxExportFixture.Labels, card.Labels);
        Assert.Equal(fixture.Bytes.Length, card.FileBytes);
        Assert.Equal(fixture.Bytes.Length, progress[^1]);
        Assert.Equal(["external-resnet.onnx"], ImportedFiles());
        Assert.Equal(SHA256.HashData(fixture.Bytes), SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(ImportFolder, "external-resnet.onnx"), TestContext.Current.CancellationToken)));
        var row = Assert.Single(await RowsAsync());
        Assert.Equal(("external resnet", "models/imported/external-resnet.onnx", string.Join(",", ClassifierOnnxExportFixture.Labels), 120, 160, false),
            (row.Name, row.OnnxPath, row.Labels, row.InputHeight, row.InputWidth, row.IsActive));
        Assert.Equal(card.Id, Assert.Single(await catalog.ListAsync(TestContext.Current.CancellationToken)).Id);

        // Served like a trained model: it answers an image with one probability per label.
        var predictions = provider!.GetRequiredService<PredictionService>();
        var choice = await predictions.ResolveAsync("external resnet", allowFile: false, TestContext.Current.CancellationToken);
        using var png = new MemoryStream();
        using (var image = TestImages.Smear(320, 240, seed: 5)) image.SaveAsPng(png);
        var batch = await predictions.PredictAsync(choice, [new PredictionInput("cell.png", png.ToArray())], null, TestContext.Current.CancellationToken);
        var prediction = Assert.Single(batch.Outcomes).Prediction;
        Assert.NotNull(prediction);
        Assert.Equal(4, prediction.Probabilities.Count);
    }

    [Fact]
    public async Task A_taken_name_is_refused_and_the_stored_model_is_untouched()
    {
        var catalog = await CatalogAsync();
        await ImportAsync(catalog, "cells", fixture.Bytes);
        var stored = SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(ImportFolder, "cells.onnx"), TestContext.Current.CancellationToken));

        var refused = await Assert.ThrowsAsync<ModelImportRefusedException>(() => ImportAsync(catalog, " cells ", WithThreeLabels()));

        Assert.Equal(["A model named 'cells' already exists; choose another name."], refused.Reasons);
        Assert.Equal(["cells.onnx"], ImportedFiles());
        Assert.Equal(stored, SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(ImportFolder, "cells.onnx"), TestContext.Current.CancellationToken)));
        Assert.Equal("cells", Assert.Single(await RowsAsync()).Name);
    }

    [Fact]
    public async Task Names_become_safe_file_names_inside_the_import_folder_and_never_overwrite_a_file()
    {
        var catalog = await CatalogAsync();
        var first = await ImportAsync(catalog, "../../cells v1", fixture.Bytes);
        var stored = SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(ImportFolder, "cells-v1.onnx"), TestContext.Current.CancellationToken));
        // Another name, the same safe file name: a new file beside the first.
        var second = await ImportAsync(catalog, "cells/v1", fixture.Bytes);

        Assert.Equal(["cells-v1-2.onnx", "cells-v1.onnx"], ImportedFiles());
        Assert.Equal(stored, SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(ImportFolder, "cells-v1.onnx"), TestContext.Current.CancellationToken)));
        Assert.Equal(["models/imported/cells-v1.onnx", "models/imported/cells-v1-2.onnx"], (await RowsAsync()).Select(r => r.OnnxPath));
        Assert.Equal(["../../cells v1", "cells/v1"], new[] { first.Name, second.Name });
        Assert.Empty(Directory.GetFiles(data.Path, "*.onnx", SearchOption.TopDirectoryOnly));

        foreach (var (name, reason) in new[]
        {
            ("  ", "Give the model a name."),
            ("42", "A model name of digits only would be read as a model id; add a letter."),
            (new string('m', 201), "A model name is at most 200 characters."),
        })
        {
            var refused = await Assert.ThrowsAsync<ModelImportRefusedException>(() => ImportAsync(catalog, name, fixture.Bytes));
            Assert.Equal([reason], refused.Reasons);
        }
        Assert.Equal(2, ImportedFiles().Length);
    }

    [Fact]
    public async Task A_file_that_does_not_fit_leaves_no_file_and_no_row()
    {
        var catalog = await CatalogAsync();
        var garbage = new byte[100_000];
        new Random(3).NextBytes(garbage);

        var notOnnx = await Assert.ThrowsAsync<ModelImportRefusedException>(() => ImportAsync(catalog, "garbage", garbage));
        var wrongLabels = await Assert.ThrowsAsync<ModelImportRefusedException>(() => ImportAsync(catalog, "three labels", WithThreeLabels()));

        Assert.StartsWith("The file is not an ONNX model", Assert.Single(notOnnx.Reasons));
        Assert.Equal(["The output 'logits' has 4 classes but wbc.labels names 3."], wrongLabels.Reasons);
        Assert.Empty(ImportedFiles());
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task A_file_over_the_import_limit_is_refused_unread_when_its_size_is_known_and_read_no_further_than_the_limit_otherwise()
    {
        var catalog = await CatalogAsync(new Dictionary<string, string?> { ["Inference:MaxImportBytes"] = (1024 * 1024).ToString() });

        var declared = await Assert.ThrowsAsync<ModelImportRefusedException>(() =>
            catalog.ImportAsync("big", new UnreadableStream(), fixture.Bytes.Length, null, TestContext.Current.CancellationToken));
        Assert.Matches(@"^The file is \d+ MB; models of up to 1\.0 MB are imported \(Inference:MaxImportBytes\)\.$", Assert.Single(declared.Reasons));

        var counting = new CountingStream(fixture.Bytes);
        var undeclared = await Assert.ThrowsAsync<ModelImportRefusedException>(() =>
            catalog.ImportAsync("big", counting, null, null, TestContext.Current.CancellationToken));
        Assert.Equal(["The file is larger than 1.0 MB, the largest model imported (Inference:MaxImportBytes)."], undeclared.Reasons);
        Assert.True(counting.BytesRead <= 2 * 1024 * 1024, $"read {counting.BytesRead} bytes");
        Assert.Empty(ImportedFiles());
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task When_the_row_cannot_be_added_the_written_file_is_removed()
    {
        var catalog = await CatalogAsync();
        var contexts = provider!.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        bool raced = false;
        // While the file is read (after the name was found free), another import registers the same name.
        var race = new SyncProgress(_ =>
        {
            if (raced) return;
            raced = true;
            using var db = contexts.CreateDbContext();
            db.Models.Add(new RegisteredModel { Name = "cells", OnnxPath = "models/other.onnx", Labels = "a,b", CreatedAt = DateTimeOffset.UtcNow });
            db.SaveChanges();
        });

        var refused = await Assert.ThrowsAsync<ModelImportRefusedException>(() => ImportAsync(catalog, "cells", fixture.Bytes, race));

        Assert.True(raced);
        Assert.Equal(["A model named 'cells' already exists; choose another name."], refused.Reasons);
        Assert.Empty(ImportedFiles());
        Assert.Equal("models/other.onnx", Assert.Single(await RowsAsync()).OnnxPath);
    }

    public async ValueTask DisposeAsync()
    {
        if (provider is not null) await provider.DisposeAsync();
        data.Dispose();
    }

    /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> would post it later).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    private sealed class UnreadableStream : MemoryStream
    {
        public override int Read(byte[] buffer, int offset, int count) => throw new InvalidOperationException("read");
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new InvalidOperationException("read");
    }

    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes)
    {
        public long BytesRead { get; private set; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await base.ReadAsync(buffer, cancellationToken);
            BytesRead += n;
            return n;
        }
    }
}
