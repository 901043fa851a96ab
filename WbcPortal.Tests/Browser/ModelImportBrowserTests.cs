using Microsoft.Playwright;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>Importing an ONNX classifier on the Models page of the real portal, in Chromium: a refusal in the dialog, then an import that adds the card.</summary>
[Trait("Category", "Browser")]
public sealed class ModelImportBrowserTests(BrowserFixture fixture, ClassifierOnnxExportFixture model)
    : IClassFixture<BrowserFixture>, IClassFixture<ClassifierOnnxExportFixture>, IDisposable
{
    private readonly TempDirectory files = new("wbc-import-browser");

    public void Dispose() => files.Dispose();

    /// <summary>
    /// Chooses a file in the dialog's picker once Blazor listens to it (a change before its InputFile is initialised is
    /// lost); after a choice MudFileUpload adds a fresh input, the last one.
    /// </summary>
    private static async Task ChooseAsync(IPage page, string path)
    {
        await page.WaitForFunctionAsync("() => { const i = [...document.querySelectorAll('.mud-dialog input[type=file]')].pop(); return i !== undefined && i._blazorInputFileNextFileId !== undefined; }");
        await page.Locator(".mud-dialog input[type=file]").Last.SetInputFilesAsync(path);
    }

    [Fact]
    public async Task A_file_that_does_not_fit_is_refused_in_the_dialog_and_a_classifier_is_imported_as_a_card()
    {
        var browser = fixture.RequireBrowser();
        var context = await fixture.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, msg) => { if (msg.Type == "error") errors.Add(msg.Text); };
        page.PageError += (_, error) => errors.Add(error);
        string notes = Path.Combine(files.Path, "notes.onnx"), good = Path.Combine(files.Path, "resnet-cells.onnx");
        await File.WriteAllTextAsync(notes, "a text file saved with the wrong extension\n", TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(good, model.Bytes, TestContext.Current.CancellationToken);

        await BrowserFixture.ScreenshotOnFailureAsync(page, "model-import", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "models"));
            await page.Locator("[data-testid=model-import-open]").ClickAsync();
            var dialog = page.Locator(".mud-dialog");
            await ChooseAsync(page, notes);
            await Assertions.Expect(dialog.Locator("input[data-testid=model-import-name], [data-testid=model-import-name] input").First).ToHaveValueAsync("notes");
            await dialog.Locator("[data-testid=model-import-submit]").ClickAsync();
            await Assertions.Expect(dialog.Locator("[data-testid=model-import-error]")).ToContainTextAsync("Not imported: notes.onnx", new() { Timeout = 60_000 });
            await Assertions.Expect(dialog.Locator("[data-testid=model-import-reason]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^The file is not an ONNX model"));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "models-import-refused.png") });

            // Another file: the name follows it (it was the file's name, not the user's).
            await ChooseAsync(page, good);
            await Assertions.Expect(dialog.Locator("input[data-testid=model-import-name], [data-testid=model-import-name] input").First).ToHaveValueAsync("resnet-cells");
            await Assertions.Expect(dialog.Locator("[data-testid=model-import-error]")).ToHaveCountAsync(0);
            await dialog.Locator("[data-testid=model-import-submit]").ClickAsync();

            var card = page.Locator("[data-testid=model-card]");
            await Assertions.Expect(card).ToHaveCountAsync(1, new() { Timeout = 120_000 });
            await Assertions.Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(0);
            await Assertions.Expect(card.Locator("[data-testid=model-name]")).ToHaveTextAsync("resnet-cells");
            await Assertions.Expect(card.Locator("[data-testid=model-imported]")).ToHaveTextAsync("Imported");
            await Assertions.Expect(card.Locator("[data-testid=model-figures]")).ToHaveTextAsync("unknown: not tested in this portal, so no test figures");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "models-imported.png"), FullPage = true });
        });
        Assert.True(File.Exists(Path.Combine(fixture.Portal.DataDirectory, "models", "imported", "resnet-cells.onnx")));
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
