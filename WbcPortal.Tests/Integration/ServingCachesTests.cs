using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Classify;
using WbcPortal.Storage;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// What serving remembers between requests (issue 26: the token's validation and the active model, read from the database
/// only when it has changed) is never used after a change: a revoked token, a locked user, a lowered role, a newly
/// activated model take effect at the next request, whether this process made the change or another connection did (the
/// CLI beside a read-only portal, a script). Real SQLite in a temporary data folder.
/// </summary>
public sealed class ServingCachesTests(ClassifierOnnxExportFixture fixture) : IClassFixture<ClassifierOnnxExportFixture>, IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TempDirectory data = new("wbc-serving-caches");
    private ServiceProvider? provider;

    private async Task<IServiceProvider> ServicesAsync()
    {
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    /// <summary>A change made by another connection than the portal's (what the CLI or a script does).</summary>
    private async Task ElsewhereAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        Assert.True(await command.ExecuteNonQueryAsync(Ct) > 0, $"changed nothing: {sql}");
    }

    private async Task<object> ReadAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "wbcportal.db")};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task The_database_version_moves_with_every_commit_of_any_connection()
    {
        var services = await ServicesAsync();
        var changes = services.GetRequiredService<DatabaseChanges>();
        long first = changes.Version()!.Value;
        Assert.Equal(first, changes.Version());
        await services.GetRequiredService<UserAccounts>().AddAsync("ana", PortalRole.Reviewer, cancellationToken: Ct);
        long afterOwn = changes.Version()!.Value;
        Assert.NotEqual(first, afterOwn);
        await ElsewhereAsync("UPDATE users SET AccessFailedCount = 1 WHERE UserName = 'ana'");
        Assert.NotEqual(afterOwn, changes.Version());

        // No database yet: no version (nothing may be cached), and no file made by asking.
        using var empty = new TempDirectory("wbc-serving-caches-empty");
        await using var bare = new ServiceCollection().AddPortalCoreForTests(empty.Path).BuildServiceProvider();
        Assert.Null(bare.GetRequiredService<DatabaseChanges>().Version());
        Assert.False(File.Exists(Path.Combine(empty.Path, "wbcportal.db")));
    }

    [Fact]
    public async Task A_token_stops_working_at_the_next_request_once_revoked_locked_or_lowered_wherever_that_was_done()
    {
        var services = await ServicesAsync();
        var accounts = services.GetRequiredService<UserAccounts>();
        var tokens = services.GetRequiredService<ApiTokens>();
        await accounts.AddAsync("ana", PortalRole.Admin, cancellationToken: Ct);
        await accounts.AddAsync("bo", PortalRole.Reviewer, cancellationToken: Ct);
        var revokedHere = await tokens.CreateAsync("ana", "lims", PortalRole.Reviewer, 30, Ct);
        var revokedElsewhere = await tokens.CreateAsync("ana", "script", PortalRole.Reviewer, 30, Ct);
        var ofBo = await tokens.CreateAsync("bo", "bench", PortalRole.Reviewer, 30, Ct);

        // Each used a few times: validated once, then remembered.
        foreach (var token in new[] { revokedHere, revokedElsewhere, ofBo })
            for (int i = 0; i < 3; i++) Assert.Equal(PortalRole.Reviewer, (await tokens.AuthenticateAsync(token.Token, null, Ct))?.Role);

        await tokens.RevokeAsync(revokedHere.Summary.Id, Ct);
        Assert.Null(await tokens.AuthenticateAsync(revokedHere.Token, null, Ct));
        Assert.NotNull(await tokens.AuthenticateAsync(revokedElsewhere.Token, null, Ct));

        await ElsewhereAsync("UPDATE api_tokens SET RevokedAt = 1 WHERE Id = $id", ("$id", revokedElsewhere.Summary.Id));
        Assert.Null(await tokens.AuthenticateAsync(revokedElsewhere.Token, null, Ct));

        // The user's role lowered: the token's role with it, at once; the user locked: refused, at once.
        Assert.Equal(PortalRole.Reviewer, (await tokens.AuthenticateAsync(ofBo.Token, null, Ct))?.Role);
        await accounts.SetRoleAsync("bo", PortalRole.Viewer, Ct);
        Assert.Equal(PortalRole.Viewer, (await tokens.AuthenticateAsync(ofBo.Token, null, Ct))?.Role);
        Assert.Equal(PortalRole.Viewer, (await tokens.AuthenticateAsync(ofBo.Token, null, Ct))?.Role);
        await accounts.SetLockedAsync("bo", true, Ct);
        Assert.Null(await tokens.AuthenticateAsync(ofBo.Token, null, Ct));
        object lockedUntil = await ReadAsync("SELECT LockoutEnd FROM users WHERE UserName = 'bo'");
        await accounts.SetLockedAsync("bo", false, Ct);
        Assert.NotNull(await tokens.AuthenticateAsync(ofBo.Token, null, Ct));
        Assert.NotNull(await tokens.AuthenticateAsync(ofBo.Token, null, Ct));
        await ElsewhereAsync("UPDATE users SET LockoutEnd = $end WHERE UserName = 'bo'", ("$end", lockedUntil));
        Assert.Null(await tokens.AuthenticateAsync(ofBo.Token, null, Ct));
    }

    [Fact]
    public async Task A_token_past_its_expiry_is_refused_though_remembered()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path).AddSingleton<TimeProvider>(clock).BuildServiceProvider();
        await provider.MigrateAsync();
        var tokens = provider.GetRequiredService<ApiTokens>();
        await provider.GetRequiredService<UserAccounts>().AddAsync("ana", PortalRole.Reviewer, cancellationToken: Ct);
        var token = await tokens.CreateAsync("ana", "lims", PortalRole.Reviewer, 1, Ct);
        for (int i = 0; i < 3; i++) Assert.NotNull(await tokens.AuthenticateAsync(token.Token, null, Ct));
        clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        Assert.Null(await tokens.AuthenticateAsync(token.Token, null, Ct));
    }

    [Fact]
    public async Task An_activated_model_is_served_at_the_next_request_wherever_it_was_activated()
    {
        var services = await ServicesAsync();
        var catalog = services.GetRequiredService<ModelCatalog>();
        var predictions = services.GetRequiredService<PredictionService>();
        var first = await catalog.ImportAsync("first", new MemoryStream(fixture.Bytes), fixture.Bytes.Length, cancellationToken: Ct);
        var second = await catalog.ImportAsync("second", new MemoryStream(fixture.Bytes), fixture.Bytes.Length, cancellationToken: Ct);
        Assert.Null(await predictions.ActiveAsync(Ct));

        await catalog.ActivateAsync(first.Id, Ct);
        for (int i = 0; i < 3; i++) Assert.Equal(first.Id, (await predictions.ActiveAsync(Ct))?.ModelId);
        await catalog.ActivateAsync(second.Id, Ct);
        Assert.Equal(("second", second.Id), ((await predictions.ActiveAsync(Ct))?.Name, (await predictions.ActiveAsync(Ct))?.ModelId));

        // Renamed, then switched back, by another connection.
        await ElsewhereAsync("UPDATE models SET Name = 'second, renamed' WHERE Id = $id", ("$id", second.Id));
        Assert.Equal("second, renamed", (await predictions.ActiveAsync(Ct))?.Name);
        await ElsewhereAsync("UPDATE models SET IsActive = (Id = $id) WHERE Id IN ($id, $other)", ("$id", first.Id), ("$other", second.Id));
        Assert.Equal(first.Id, (await predictions.ActiveAsync(Ct))?.ModelId);
    }

    public async ValueTask DisposeAsync()
    {
        if (provider is not null) await provider.DisposeAsync();
        SqliteConnection.ClearAllPools();
        data.Dispose();
    }
}
