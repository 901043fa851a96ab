using System.Net;
using Microsoft.Data.Sqlite;
using WbcPortal.Components.Layout;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

public class PortalHostTests(PortalFixture fixture) : IClassFixture<PortalFixture>
{
    private HttpClient Client() => fixture.Portal.CreateClient();

    [Fact]
    public async Task Every_area_page_renders_with_its_title()
    {
        using var http = Client();
        foreach (var area in PortalAreas.All)
        {
            var html = await http.GetStringAsync(area.Href, TestContext.Current.CancellationToken);
            Assert.Contains($"<title>{area.Title} · WbcPortal</title>", html);
            Assert.Contains(area.Summary, html);
        }
    }

    [Fact]
    public async Task An_unknown_address_gets_a_404_with_the_not_found_page()
    {
        using var http = Client();
        using var response = await http.GetAsync("no/such/page", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("Page not found", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Own_and_mudblazor_assets_are_served_fingerprinted_with_validators()
    {
        using var http = Client();
        var html = await http.GetStringAsync("/", TestContext.Current.CancellationToken);
        var css = System.Text.RegularExpressions.Regex.Match(html, "href=\"(app\\.[a-z0-9]+\\.css)\"").Groups[1].Value;
        Assert.NotEmpty(css);
        using var response = await http.GetAsync(css, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Run from the build output, MapStaticAssets revalidates (no-cache + ETag); a published portal serves these immutable.
        Assert.NotNull(response.Headers.ETag);
        Assert.Contains(".wbc-status-chip", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        using var mud = await http.GetAsync("_content/MudBlazor/MudBlazor.min.css", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, mud.StatusCode);
    }

    [Fact]
    public async Task The_database_is_created_in_the_data_folder_with_migrations_applied()
    {
        var db = Path.Combine(fixture.Portal.DataDirectory, "wbcportal.db");
        Assert.True(File.Exists(db), $"{db} missing");
        await using var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM __EFMigrationsHistory";
        var applied = Convert.ToInt32(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
        Assert.True(applied >= 1);
        command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'models'";
        Assert.Equal(1, Convert.ToInt32(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken)));
    }

    [Fact]
    public async Task The_home_page_shows_the_compute_device_and_providers()
    {
        using var http = Client();
        var html = await http.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("CPUExecutionProvider", html);
        Assert.Contains(fixture.Portal.DataDirectory, html);
    }
}

public class PortalStartupTests
{
    [Fact]
    public async Task A_wrong_device_setting_stops_start_up_with_a_clear_message()
    {
        using var data = new TempDirectory();
        var (exitCode, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path, "--Compute:Device=gpu");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("Compute:Device must be auto, cpu or cuda", output);
    }

    [Fact]
    public async Task A_public_api_address_that_is_not_an_http_url_stops_start_up_with_a_clear_message()
    {
        using var data = new TempDirectory();
        var (exitCode, output) = await PortalProcess.RunToExitAsync("--urls", "http://127.0.0.1:0", "--data-dir", data.Path, "--Api:PublicBaseUrl=ftp://wbc.lab.example/");
        Assert.Equal(2, exitCode);
        Assert.Contains("Api:PublicBaseUrl must be an absolute http or https address", output);
    }
}
