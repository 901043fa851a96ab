using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Evaluation;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Evaluating a folder reads files that were never imported: a FIFO there is set aside with its reason, never opened.
/// (Through the service, not the executable: <c>evaluate --folder</c> needs a trained run, minutes on this machine;
/// the folder is resolved by the same <see cref="EvaluationService.ResolveAsync"/> before any model runs.)
/// </summary>
public sealed class FolderEvaluationFilesTests : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-eval-files");
    private readonly TempDirectory folder = new("wbc-eval-folder");
    private ServiceProvider services = null!;

    public async ValueTask InitializeAsync()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await services.MigrateAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
        folder.Dispose();
    }

    [Fact]
    public async Task A_fifo_in_an_evaluated_folder_is_set_aside_without_blocking()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "FIFOs are made with mkfifo");
        ImportFixtures.ClassFolders(folder.Path, ["EOSINOPHIL", "LYMPHOCYTE"], 2);
        PngBombs.MakeFifo(Path.Combine(folder.Path, "LYMPHOCYTE", "pipe.png"));
        PngBombs.MakeFifo(Path.Combine(folder.Path, "LYMPHOCYTE", "pipe"));
        var evaluation = services.GetRequiredService<EvaluationService>();

        var watch = Stopwatch.StartNew();
        var resolving = evaluation.ResolveAsync(["EOSINOPHIL", "LYMPHOCYTE"], new EvaluationTarget.Folder(folder.Path), TestContext.Current.CancellationToken);
        Assert.True(await Task.WhenAny(resolving, Task.Delay(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken)) == resolving, "resolving the folder blocked");
        var images = await resolving;
        TestContext.Current.TestOutputHelper?.WriteLine($"resolved in {watch.Elapsed.TotalSeconds:N1} s");

        Assert.Equal(4, images.Images.Count);
        Assert.Equal(
            [("LYMPHOCYTE/pipe", "not a regular file (a FIFO): not read"), ("LYMPHOCYTE/pipe.png", "not a regular file (a FIFO): not read")],
            images.Rejected.OrderBy(r => r.File, StringComparer.Ordinal));
    }
}
