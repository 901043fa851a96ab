using Bunit;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using WbcPortal.Components.Pages.Models;
using WbcPortal.Storage;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>
/// The Models page's import dialog over the real catalog: the name follows the chosen file, a fitting file becomes an
/// "Imported" card, and a file that does not fit is refused in the dialog with the catalog's own words.
/// </summary>
public sealed class ModelImportComponentTests(ClassifierOnnxExportFixture fixture) : PortalTestContext, IClassFixture<ClassifierOnnxExportFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private async Task<(IRenderedComponent<MudDialogProvider> Dialogs, IRenderedComponent<ModelsPage> Page)> OpenDialogAsync(byte[] bytes, string fileName)
    {
        await Services.MigrateAsync();
        Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var page = Render<ModelsPage>();
        page.WaitForElement("[data-testid=models-empty]");

        page.Find("button[data-testid=model-import-open]").Click();
        dialogs.WaitForElement("[data-testid=model-import-submit]");
        Assert.True(dialogs.Find("button[data-testid=model-import-submit]").HasAttribute("disabled"));
        dialogs.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(bytes, fileName));
        dialogs.WaitForAssertion(() => Assert.Contains(fileName, dialogs.Find("[data-testid=model-import-chosen]").TextContent));
        return (dialogs, page);
    }

    private async Task<int> ModelRowsAsync()
    {
        await using var db = await Services.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(TestContext.Current.CancellationToken);
        return await db.Models.CountAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_fitting_file_is_imported_under_its_file_name_and_its_card_says_it_was_imported()
    {
        var (dialogs, page) = await OpenDialogAsync(fixture.Bytes, "resnet-cells.onnx");
        Assert.Equal("resnet-cells", dialogs.Find("input[data-testid=model-import-name], [data-testid=model-import-name] input").GetAttribute("value"));

        dialogs.Find("button[data-testid=model-import-submit]").Click();

        page.WaitForAssertion(() => Assert.Equal("resnet-cells", page.Find("[data-testid=model-name]").TextContent.Trim()), Patience);
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=model-import-dialog]")), Patience);
        Assert.Equal("Imported", page.Find("[data-testid=model-imported]").TextContent.Trim());
        Assert.Equal("imported; no run in this portal", page.Find("[data-testid=model-run]").TextContent.Trim());
        Assert.Equal("unknown: not tested in this portal, so no test figures", page.Find("[data-testid=model-figures]").TextContent.Trim());
        // The fixture's file is an older export (format 1): the card says what it takes and that its download is self-contained.
        Assert.Equal("1, an older export: input float [N, 3, 120, 160] prepared outside the graph; its download is upgraded to format 2",
            page.Find("[data-testid=model-format]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=model-active]"));
        Assert.Equal(1, await ModelRowsAsync());
    }

    [Fact]
    public async Task A_file_that_does_not_fit_is_refused_in_the_dialog_with_the_reason()
    {
        var (dialogs, page) = await OpenDialogAsync("PK\x03\x04 not really a zip"u8.ToArray(), "cells.onnx");

        dialogs.Find("button[data-testid=model-import-submit]").Click();

        dialogs.WaitForAssertion(() => Assert.Contains("Not imported: cells.onnx", dialogs.Find("[data-testid=model-import-error]").TextContent), Patience);
        Assert.Equal("The file is a zip archive, not an ONNX model; unpack it and import the .onnx file inside.",
            dialogs.Find("[data-testid=model-import-reason]").TextContent.Trim());
        Assert.Single(dialogs.FindAll("[data-testid=model-import-dialog]"));
        Assert.False(dialogs.Find("button[data-testid=model-import-submit]").HasAttribute("disabled"));
        Assert.Empty(page.FindAll("[data-testid=model-card]"));
        Assert.Equal(0, await ModelRowsAsync());
    }
}
