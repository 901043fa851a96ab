using WbcPortal.Services.Accounts;
using System.Globalization;
using SixLabors.ImageSharp;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Smears;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;

namespace WbcPortal.Services.Smears;

/// <summary>
/// Turns a smear batch's cells, as corrected, into a dataset for training: each identified cell is cut at the Kaggle images' scale,
/// centred on it (<see cref="SmearWindow.TrainingCrop"/>), filed under its class, and imported by the ordinary import job
/// (every file checked, one source group per smear cell). Unidentified cells are left out: a training image needs a class.
/// </summary>
public sealed class SmearDatasets(SmearJobs jobs, UploadStaging staging, PortalJobs datasetJobs, ImageDecoding decoding, Accounts.AccessControl access, Accounts.AuditLog audit)
{
    /// <summary>How many cells of the batch would go in (identified cells only), by class.</summary>
    public static IReadOnlyDictionary<string, int> Eligible(SmearJob job) =>
        Enumerable.Range(0, job.Result?.Images.Count ?? 0).SelectMany(job.Cells).Where(c => c.Label != DifferentialCount.UnidentifiedLabel)
            .GroupBy(c => c.Label).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Writes the crops and queues their import into <paramref name="datasetName"/> (new or existing); the job's card is on the Datasets page.</summary>
    [Demands(PortalAction.Import)]
    public async Task<JobView> EnqueueAsync(string batchId, string datasetName, CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.Import);
        string name = DatasetService.ValidateName(datasetName);
        if (jobs.ReadOnly) throw new InvalidOperationException("This portal is read-only: datasets are made on the portal that holds the data folder.");
        var job = jobs.Get(batchId) ?? throw new ArgumentException("That batch is no longer held.");
        var result = job.Result ?? throw new ArgumentException("The batch has no cells yet.");
        if (Eligible(job).Count == 0) throw new ArgumentException("No identified cell to train on: give the cells a class first.");
        // Owned by this call until the import job takes it over; released here if anything stops before.
        var lease = staging.Reserve(job.Total * 200_000L, $"crops of smear batch {batchId}");
        string folder = lease.Folder;
        try
        {
            int written = 0;
            for (int i = 0; i < result.Images.Count; i++)
            {
                var smear = result.Images[i];
                var cells = job.Cells(i).Where(c => c.Label != DifferentialCount.UnidentifiedLabel).ToList();
                if (smear.Error is not null || cells.Count == 0 || jobs.ImageBytes(batchId, i) is not { } bytes) continue;
                using var image = decoding.DecodeRgb(bytes, cancellationToken);
                foreach (var cell in cells)
                {
                    using var crop = SmearWindow.TrainingCrop(image, cell.CenterX, cell.CenterY, smear.Scale);
                    var dir = Directory.CreateDirectory(Path.Combine(folder, UploadStaging.SafeFileName(cell.Label))).FullName;
                    string stem = UploadStaging.SafeFileName(Path.GetFileNameWithoutExtension(smear.File));
                    lease.ThrowIfReleased();
                    await crop.SaveAsPngAsync(Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"{stem}-{i}-cell{cell.Id}.png")), cancellationToken);
                    lease.Touch();
                    written++;
                }
            }
            if (written == 0) throw new ArgumentException("None of the batch's smears is stored any more.");
            await audit.RecordAsync(AuditAction.DatasetFromSmears, $"smear batch {batchId}", $"{written} cells into '{name}'", cancellationToken: CancellationToken.None);
            return await datasetJobs.EnqueueAsync(new ImportJob(name, folder, $"{written} cells of smear batch {batchId}"), lease, CancellationToken.None);
        }
        finally
        {
            if (!lease.HeldByJob) lease.Dispose();
        }
    }
}
