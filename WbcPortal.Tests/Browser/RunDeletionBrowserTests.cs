using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Browser;

/// <summary>
/// Issue 25: a fold of a cross-validation deleted from the runs list. The dialog names the cross-validation and what goes
/// with the run, the button says the cross-validation is left incomplete, the result is counted in words, and the
/// cross-validation then reads "incomplete (fold 1 deleted)" with a mean that is not final, in the list and on its page.
/// Then a rename and notes on a run's page.
/// </summary>
[Trait("Category", "Browser")]
public class RunDeletionBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private static string Shot(string name) => Path.Combine(BrowserFixture.ScreenshotDirectory, name);

    [Fact]
    public async Task A_fold_deleted_from_the_runs_list_names_its_cross_validation_which_then_reads_incomplete()
    {
        var browser = fixture.RequireBrowser();
        int cvId;
        IReadOnlyList<int> runIds;
        await using (var services = new ServiceCollection().AddPortalCoreForTests(fixture.Portal.DataDirectory).BuildServiceProvider())
        {
            (cvId, runIds) = await RunSeeds.AddCrossValidationAsync(services, "ux-cv2", [0.3, 0.35, 0.4]);
        }

        var context = await BrowserFixture.SignedInContextAsync(browser, fixture.Portal, new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        await BrowserFixture.ScreenshotOnFailureAsync(page, "run-fold-delete", async () =>
        {
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "runs"));
            var cvRow = page.Locator("[data-testid=cv-table] tbody tr", new() { HasText = "ux-cv2" });
            await Assertions.Expect(cvRow.Locator("[data-testid=cv-status]")).ToHaveTextAsync("Succeeded");
            await Assertions.Expect(cvRow.Locator("[data-testid=cv-mean]")).ToHaveTextAsync("35.0 %");
            await page.ScreenshotAsync(new() { Path = Shot("run-fold-delete-before.png"), FullPage = true });

            var row = page.Locator("[data-testid=run-table] tbody tr", new() { HasText = "ux-cv2-fold1" });
            await row.Locator("[data-testid=run-actions] button").First.ClickAsync();
            await page.Locator("[data-testid=run-delete]").ClickAsync();
            var dialog = page.Locator("[data-testid=run-delete-dialog]");
            await Assertions.Expect(dialog).ToContainTextAsync("is fold 1 of 3 of cross-validation 'ux-cv2': deleting it leaves 'ux-cv2' incomplete (fold 1 deleted)");
            await Assertions.Expect(dialog).ToContainTextAsync("its registered model 'ux-cv2-fold1'");
            await Assertions.Expect(dialog.Locator("[data-testid=run-delete-what]")).ToContainTextAsync("2 files");
            var confirm = page.Locator("[data-testid=run-delete-confirm]");
            await Assertions.Expect(confirm).ToHaveTextAsync("Delete and leave 'ux-cv2' incomplete");
            await Assertions.Expect(page.Locator("[data-testid=run-delete]")).ToBeHiddenAsync(); // the menu closed before the dialog opened
            await page.ScreenshotAsync(new() { Path = Shot("run-fold-delete-dialog.png") });

            await confirm.ClickAsync();
            await Assertions.Expect(page.Locator(".mud-snackbar").First).ToContainTextAsync("Deleted 1 run, its model and its 2 files;");
            await Assertions.Expect(page.Locator(".mud-snackbar").First).ToContainTextAsync("Cross-validation 'ux-cv2' is incomplete (fold 1 deleted) now");
            await Assertions.Expect(page.Locator("[data-testid=run-table] tbody tr", new() { HasText = "ux-cv2-fold1" })).ToHaveCountAsync(0);
            await Assertions.Expect(cvRow.Locator("[data-testid=cv-status]")).ToHaveTextAsync("incomplete (fold 1 deleted)");
            await Assertions.Expect(cvRow.Locator("[data-testid=cv-mean]")).ToHaveTextAsync("37.5 % (not final)");
            await page.ScreenshotAsync(new() { Path = Shot("run-fold-delete-after-list.png"), FullPage = true });

            await cvRow.Locator("[data-testid=cv-link]").ClickAsync();
            await page.WaitForURLAsync($"**/runs/cv/{cvId}");
            await Assertions.Expect(page.Locator("[data-testid=cv-incomplete]")).ToHaveTextAsync("incomplete (fold 1 deleted)");
            await Assertions.Expect(page.Locator("[data-testid=run-status]")).ToHaveCountAsync(2); // the two remaining folds; none for the record itself
            await Assertions.Expect(page.Locator("[data-testid=cv-incomplete-alert]")).ToContainTextAsync("fold 1 (run 'ux-cv2-fold1', deleted");
            await Assertions.Expect(page.Locator("[data-testid=cv-incomplete-alert]")).ToContainTextAsync("not final");
            await Assertions.Expect(page.Locator("[data-testid=cv-fold-deleted]")).ToContainTextAsync("run 'ux-cv2-fold1'");
            await Assertions.Expect(page.Locator("[data-testid=cv-mean-row]")).ToContainTextAsync("not final: fold 1 deleted");
            await Assertions.Expect(page.Locator("[data-testid=cv-progress-text]")).ToContainTextAsync("incomplete (fold 1 deleted)");
            await page.ScreenshotAsync(new() { Path = Shot("run-fold-delete-after-cv.png"), FullPage = true });

            // The run page: rename and notes, then the fold's delete button opens the same dialog.
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/{runIds[1]}"));
            await page.Locator("[data-testid=run-rename]").ClickAsync();
            var name = page.Locator("input[data-testid=run-rename-name]");
            await name.FillAsync("12");
            await Assertions.Expect(page.Locator("[data-testid=run-rename-dialog]")).ToContainTextAsync("digits alone");
            await Assertions.Expect(page.Locator("[data-testid=run-rename-save]")).ToBeDisabledAsync();
            await name.FillAsync("ux-cv2-fold3");
            await page.Locator("[data-testid=run-rename-save]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=run-rename-error]")).ToHaveTextAsync("A run named 'ux-cv2-fold3' exists already.");
            await name.FillAsync("fold 2, crop 112");
            await page.Locator("[data-testid=run-rename-save]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=page-title]")).ToHaveTextAsync("fold 2, crop 112");
            await page.Locator("[data-testid=run-notes]").ClickAsync();
            await page.Locator("textarea[data-testid=run-notes-text]").FillAsync("Monocytes called lymphocytes in two originals.");
            await page.Locator("[data-testid=run-notes-save]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=run-notes-shown]")).ToContainTextAsync("Monocytes called lymphocytes in two originals.");
            await page.ScreenshotAsync(new() { Path = Shot("run-page-renamed-with-notes.png"), FullPage = true });
            await page.Locator("[data-testid=run-delete]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=run-delete-confirm]")).ToHaveTextAsync("Delete and leave 'ux-cv2' incomplete");
            await Assertions.Expect(page.Locator("[data-testid=run-delete-dialog]")).ToContainTextAsync("Run 'fold 2, crop 112' is fold 2 of 3 of cross-validation 'ux-cv2'");
            await page.Locator("[data-testid=run-delete-cancel]").ClickAsync();

            // The Storage page lists the same dependency beside each run.
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, "storage"));
            await Assertions.Expect(page.Locator("[data-testid=storage-runs] tbody tr", new() { HasText = "ux-cv2-fold3" }).Locator("[data-testid=storage-run-dependents]"))
                .ToHaveTextAsync("fold 3 of cross-validation ux-cv2");
            await page.ScreenshotAsync(new() { Path = Shot("storage-runs-dependents.png"), FullPage = true });

            // Where the issue was found: the Storage page's run deletion goes through the same dialog.
            var fold3 = page.Locator("[data-testid=storage-runs] tbody tr", new() { HasText = "ux-cv2-fold3" });
            await fold3.Locator("input[data-testid=storage-run-select]").CheckAsync(new() { Force = true });
            await page.Locator("[data-testid=storage-delete-runs]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=run-delete-dialog]")).ToContainTextAsync("is fold 3 of 3 of cross-validation 'ux-cv2': deleting it leaves 'ux-cv2' incomplete (fold 3 deleted)");
            await Assertions.Expect(page.Locator("[data-testid=run-delete-cv-warning]")).ToContainTextAsync("\"incomplete (folds 1 and 3 deleted)\"");
            await page.Locator("[data-testid=run-delete-confirm]").ClickAsync();
            await Assertions.Expect(page.Locator(".mud-snackbar", new() { HasText = "Deleted 1 run, its model and its 2 files;" })).ToContainTextAsync("incomplete (folds 1 and 3 deleted) now");
            await Assertions.Expect(page.Locator("[data-testid=storage-runs] tbody tr", new() { HasText = "ux-cv2-fold3" })).ToHaveCountAsync(0);
            await BrowserFixture.GotoInteractiveAsync(page, new Uri(fixture.Portal.BaseAddress, $"runs/cv/{cvId}"));
            await Assertions.Expect(page.Locator("[data-testid=cv-incomplete]")).ToHaveTextAsync("incomplete (folds 1 and 3 deleted)");
        });
        Assert.Empty(errors);
        await context.CloseAsync();
    }
}
