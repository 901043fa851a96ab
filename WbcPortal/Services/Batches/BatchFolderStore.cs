using System.Globalization;
using System.Text.Json;
using WbcPortal.Options;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Batches;

/// <summary>What every stored batch's manifest says: its id, the files in input order, when it started.</summary>
public interface IStoredBatch
{
    string Id { get; }
    IReadOnlyList<string> Files { get; }
    DateTimeOffset StartedAt { get; }
}

/// <summary>
/// Batches of uploaded images on disk (Classify's, the Smears page's), so a batch outlives a restart: <c>&lt;folder&gt;/&lt;id&gt;/</c> in the data folder holds the images
/// as uploaded (<c>0.img</c>, <c>1.img</c>, …), <c>batch.json</c> (the manifest) and, once it ended, <c>outcome.json</c>. A
/// batch folder appears whole (written under a temporary name, then renamed) and each JSON file is replaced atomically, so
/// a crash leaves either the old state or the new one. Only this class writes there; the oldest batches beyond
/// a kept number of batches are deleted. Nothing here touches datasets, runs or models.
/// </summary>
public abstract class BatchFolderStore<TManifest, TOutcome>(StorageOptions storage, string folder)
    where TManifest : class, IStoredBatch
    where TOutcome : class
{
    private const string ManifestFile = "batch.json", OutcomeFile = "outcome.json", TempPrefix = ".tmp-";
    protected static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The folder of all batches.</summary>
    public string Root => Path.Combine(storage.DataDirectoryFullPath, folder);

    /// <summary>Whether batches are kept on disk (not when the data folder is opened read-only).</summary>
    public bool Enabled => !storage.ReadOnly;

    /// <summary>Stores a new batch's images and manifest; the folder appears only when complete.</summary>
    public async Task SaveNewAsync(TManifest manifest, IReadOnlyList<PredictionInput> inputs, CancellationToken cancellationToken)
    {
        if (!Enabled) return;
        string final = Folder(manifest.Id);
        string temp = Path.Combine(Root, TempPrefix + manifest.Id);
        Directory.CreateDirectory(temp);
        try
        {
            for (int i = 0; i < inputs.Count; i++)
                await File.WriteAllBytesAsync(Path.Combine(temp, ImageName(i)), inputs[i].Bytes, cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(temp, ManifestFile), JsonSerializer.Serialize(manifest, Json), cancellationToken);
            Directory.Move(temp, final);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Records how a batch ended (replacing any earlier outcome atomically).</summary>
    public async Task SaveOutcomeAsync(string id, TOutcome outcome, CancellationToken cancellationToken)
    {
        if (!Enabled || !Directory.Exists(Folder(id))) return;
        string path = Path.Combine(Folder(id), OutcomeFile), temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(outcome, Json), cancellationToken);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Writes a further JSON file of a stored batch (a reviewer's corrections), replacing it atomically.</summary>
    protected async Task SaveJsonAsync<T>(string id, string name, T value, CancellationToken cancellationToken)
    {
        if (!Enabled || !IsId(id) || !Directory.Exists(Folder(id))) return;
        string path = Path.Combine(Folder(id), name), temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(value, Json), cancellationToken);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>A further JSON file of a stored batch, or null.</summary>
    protected T? LoadJson<T>(string id, string name) where T : class
    {
        if (!IsId(id)) return null;
        string path = Path.Combine(Folder(id), name);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A stored batch's manifest and outcome (null when it never ended), or null when there is no such batch.</summary>
    public (TManifest Manifest, TOutcome? Outcome)? Load(string id)
    {
        if (Manifest(id) is not { } manifest) return null;
        string outcomePath = Path.Combine(Folder(id), OutcomeFile);
        try
        {
            return (manifest, File.Exists(outcomePath) ? JsonSerializer.Deserialize<TOutcome>(File.ReadAllText(outcomePath), Json) : null);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A stored batch's manifest alone (its answers, which can be large, are not read), or null.</summary>
    private TManifest? Manifest(string id)
    {
        if (!IsId(id)) return null;
        string path = Path.Combine(Folder(id), ManifestFile);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<TManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The bytes of image <paramref name="index"/> of a stored batch, or null.</summary>
    public byte[]? ImageBytes(string id, int index)
    {
        if (!IsId(id) || index < 0) return null;
        string path = Path.Combine(Folder(id), ImageName(index));
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    /// <summary>Every image of a stored batch, in input order (to classify it again).</summary>
    public IReadOnlyList<PredictionInput>? Inputs(string id)
    {
        if (Manifest(id) is not { } manifest) return null;
        var inputs = new List<PredictionInput>(manifest.Files.Count);
        for (int i = 0; i < manifest.Files.Count; i++)
        {
            if (ImageBytes(id, i) is not { } bytes) return null;
            inputs.Add(new PredictionInput(manifest.Files[i], bytes));
        }
        return inputs;
    }

    /// <summary>Stored batch ids, newest first.</summary>
    public IReadOnlyList<(string Id, DateTimeOffset StartedAt)> List()
    {
        if (!Directory.Exists(Root)) return [];
        return Directory.EnumerateDirectories(Root)
            .Select(Path.GetFileName)
            .Where(name => name is not null && IsId(name))
            .Select(name => (Id: name!, Time: Manifest(name!)?.StartedAt))
            .Where(x => x.Time is not null)
            .Select(x => (x.Id, x.Time!.Value))
            .OrderByDescending(x => x.Item2)
            .ToList();
    }

    /// <summary>Deletes stored batches beyond the newest <paramref name="keep"/>, never one in <paramref name="running"/>; also temporary folders a crash left.</summary>
    public void Trim(int keep, IReadOnlySet<string> running)
    {
        if (!Enabled || !Directory.Exists(Root)) return;
        foreach (var (id, _) in List().Skip(keep).Where(b => !running.Contains(b.Id))) TryDelete(Folder(id));
        foreach (var temp in Directory.EnumerateDirectories(Root, TempPrefix + "*"))
        {
            string id = Path.GetFileName(temp)[TempPrefix.Length..];
            if (!running.Contains(id) && Directory.GetLastWriteTimeUtc(temp) < DateTime.UtcNow.AddHours(-1)) TryDelete(temp);
        }
    }

    /// <summary>Deletes a stored batch that never ran (it could not be queued).</summary>
    public void Delete(string id)
    {
        if (Enabled && IsId(id)) TryDelete(Folder(id));
    }

    /// <summary>Batch ids are 12 lowercase hex characters: nothing else names a folder here.</summary>
    public static bool IsId(string id) => id.Length == 12 && id.All(char.IsAsciiHexDigitLower);

    protected string Folder(string id) => Path.Combine(Root, id);

    private static string ImageName(int index) => index.ToString(CultureInfo.InvariantCulture) + ".img";

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // left for the next trim
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
