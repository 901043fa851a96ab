using System.Net;
using System.Text.Json;
using WbcPortal.Cli;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Accounts;

/// <summary>The operators' verbs (<c>user</c>, <c>token</c>) keep ../shared/docs/CLI.md's contract, and what they make works on a portal.</summary>
public sealed class AccountVerbTests
{
    private static readonly CancellationToken Ct = TestContext.Current.CancellationToken;

    private static async Task<(int Code, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task User_add_and_token_create_print_their_contract_and_the_token_signs_in_to_the_api_with_its_role()
    {
        using var data = new TempDirectory("wbc-verbs");
        var (code, stdout, stderr) = await Run("user", "add", "ana", "--role", "Reviewer", "--json", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        using (var user = JsonDocument.Parse(stdout))
        {
            Assert.Equal("ana", user.RootElement.GetProperty("user").GetString());
            Assert.Equal("Reviewer", user.RootElement.GetProperty("role").GetString());
            Assert.Equal(16, user.RootElement.GetProperty("password").GetString()!.Length);
        }
        Assert.Equal(1, (await Run("user", "add", "ana", "--role", "Viewer", "--data-dir", data.Path)).Code);
        var wrongRole = await Run("user", "add", "bob", "--role", "Wizard", "--data-dir", data.Path);
        Assert.Equal(2, wrongRole.Code);
        Assert.Contains("Admin, Reviewer or Viewer", wrongRole.Stderr);
        var noUser = await Run("token", "create", "nobody", "--data-dir", data.Path);
        Assert.Equal(1, noUser.Code);
        Assert.Equal("token: No user 'nobody'.", noUser.Stderr.Trim());

        (code, stdout, stderr) = await Run("token", "create", "ana", "--expires-days", "7", "--name", "lis", "--json", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        string token;
        using (var made = JsonDocument.Parse(stdout))
        {
            token = made.RootElement.GetProperty("token").GetString()!;
            Assert.StartsWith("wbc_", token);
            Assert.Equal("ana", made.RootElement.GetProperty("user").GetString());
            Assert.Equal("Reviewer", made.RootElement.GetProperty("role").GetString());
            var expires = made.RootElement.GetProperty("expires").GetDateTimeOffset();
            Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromDays(6.9), TimeSpan.FromDays(7.1));
        }

        await using (var portal = await PortalProcess.StartOnAsync(data.Path))
        {
            using var http = portal.CreateClientWithToken(token);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/v1/models", Ct)).StatusCode);
            // A Reviewer may classify: no model yet is a 409, not a 403.
            using var form = new MultipartFormDataContent { { new ByteArrayContent([0xFF, 0xD8, 0xFF]), "images", "a.jpg" } };
            Assert.NotEqual(HttpStatusCode.Forbidden, (await http.PostAsync("api/v1/predict", form, Ct)).StatusCode);
        }
        // Revoked by the operator: refused from then on (the portal reads the token's row on every request).
        Assert.Equal(0, (await Run("token", "revoke", "1", "--data-dir", data.Path)).Code);
        await using var again = await PortalProcess.StartOnAsync(data.Path);
        using var http2 = again.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http2.GetAsync("api/v1/models", Ct)).StatusCode);
    }
}
