using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Engine.Datasets.Exploration;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Datasets;
using WbcPortal.Storage;

namespace WbcPortal.Services.Exploration;

/// <summary>
/// The Explore area: seeded sample grids and the dataset measures. A measurement is an <see cref="ExplorationJob"/> on the job
/// system (<see cref="ExplorationJobs"/>), run once per dataset content (its images and their classes) and sample size, and kept
/// as a file in the data folder (<c>exploration/&lt;dataset&gt;/&lt;content&gt;-&lt;sample&gt;.json</c>, written atomically), so a
/// page on any node, or after a restart, finds it; a read-only portal keeps the measurements it makes in memory.
/// </summary>
public sealed class ExplorationService(
    DatasetService datasets,
    IDbContextFactory<WbcDbContext> contexts,
    ImageStore store,
    ImageDecoding decoding,
    Options.StorageOptions storage,
    ILogger<ExplorationService> logger)
{
    public const int DefaultSamplePerClass = 300;
    public const string Folder = "exploration";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly DatasetExplorer explorer = new(decoding);
    private readonly ConcurrentDictionary<ExplorationKey, ExplorationResult> measured = new();

    public Task<IReadOnlyList<DatasetSummary>> ListDatasetsAsync(CancellationToken cancellationToken = default) => datasets.ListAsync(cancellationToken);

    /// <summary>A seeded random sample of <paramref name="perClass"/> images of each class.</summary>
    public async Task<IReadOnlyList<ClassSample>> GetSampleAsync(int datasetId, int perClass, int seed, CancellationToken cancellationToken = default)
    {
        var images = await LoadImagesAsync(datasetId, cancellationToken);
        var sample = Sampling.PerClass(images, i => i.ClassName, perClass, seed);
        var totals = images.GroupBy(i => i.ClassName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return sample.GroupBy(i => i.ClassName, StringComparer.Ordinal)
            .Select(g => new ClassSample(g.Key, totals[g.Key], g.Select(i => new SampleImage(i.Sha256, i.RelativePath)).ToList()))
            .ToList();
    }

    /// <summary>Which measurement a dataset's content asks for now: a dataset whose images or classes changed is measured again.</summary>
    public async Task<ExplorationKey> KeyAsync(int datasetId, int samplePerClass = DefaultSamplePerClass, CancellationToken cancellationToken = default) =>
        KeyOf(datasetId, await LoadImagesAsync(datasetId, cancellationToken), samplePerClass);

    /// <summary>The measurement of <paramref name="key"/> when it was made (here, or its file by any node), else null.</summary>
    public ExplorationResult? Measured(ExplorationKey key)
    {
        if (measured.TryGetValue(key, out var result)) return result;
        string path = PathOf(key);
        if (!File.Exists(path)) return null;
        try
        {
            result = JsonSerializer.Deserialize<ExplorationResult>(File.ReadAllBytes(path), Json);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            logger.LogWarning(ex, "The stored measurement {Path} could not be read; it is measured again", path);
            return null;
        }
        return result is null ? null : measured.GetOrAdd(key, result);
    }

    /// <summary>Measures the dataset as it is now (the job's work: <see cref="ExplorationJobHandler"/>) and keeps the result under its content's key.</summary>
    internal async Task<(ExplorationKey Key, ExplorationResult Result)> MeasureAsync(int datasetId, int samplePerClass, IProgress<double> progress, CancellationToken cancellationToken)
    {
        var images = await LoadImagesAsync(datasetId, cancellationToken);
        if (images.Count == 0) throw new ArgumentException("The dataset has no images to measure.");
        var key = KeyOf(datasetId, images, samplePerClass);
        var items = images.Select(i => new ExplorationImage(i.ClassName, store.ImagePath(i.Sha256, i.Format))).ToList();
        var options = new ExplorationOptions { SamplePerClass = samplePerClass };
        // A thread of its own (and the explorer's own second one): the measurement never holds pool threads the circuits need.
        var result = await Task.Factory.StartNew(() => explorer.Explore(items, options, progress, cancellationToken),
            cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        logger.LogInformation("Explored dataset {Dataset}: {Measured} images measured ({Failed} unreadable) in {Seconds:F1} s",
            datasetId, result.Measured, result.Failed, result.Elapsed.TotalSeconds);
        if (!storage.ReadOnly)
        {
            // A temporary file moved in place: a page on another node never reads half of it.
            string path = PathOf(key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temp = $"{path}.{Guid.NewGuid():N}.tmp";
            try
            {
                await File.WriteAllBytesAsync(temp, JsonSerializer.SerializeToUtf8Bytes(result, Json), CancellationToken.None);
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }
        measured[key] = result;
        return (key, result);
    }

    private string PathOf(ExplorationKey key) => Path.Combine(storage.DataDirectoryFullPath, Folder, key.DatasetId.ToString(CultureInfo.InvariantCulture),
        $"{key.Content}-{key.SamplePerClass.ToString(CultureInfo.InvariantCulture)}.json");

    /// <summary>The content's fingerprint: every image's class and bytes (by hash), in order.</summary>
    private static ExplorationKey KeyOf(int datasetId, List<ImageRow> images, int samplePerClass)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var i in images) hash.AppendData(Encoding.UTF8.GetBytes($"{i.ClassName}\n{i.Sha256}\n"));
        return new ExplorationKey(datasetId, Convert.ToHexStringLower(hash.GetHashAndReset())[..16], samplePerClass);
    }

    private async Task<List<ImageRow>> LoadImagesAsync(int datasetId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.DatasetImages.AsNoTracking().Where(i => i.DatasetId == datasetId).OrderBy(i => i.Id)
            .Select(i => new ImageRow(i.ClassName, i.RelativePath, i.Sha256, i.Stored!.Format))
            .ToListAsync(cancellationToken);
    }

    private sealed record ImageRow(string ClassName, string RelativePath, string Sha256, string Format);
}

/// <summary>One measurement: a dataset, its content's fingerprint, the sample size per class.</summary>
public sealed record ExplorationKey(int DatasetId, string Content, int SamplePerClass);

public sealed record SampleImage(string Sha256, string RelativePath);

public sealed record ClassSample(string ClassName, int Total, IReadOnlyList<SampleImage> Images);
