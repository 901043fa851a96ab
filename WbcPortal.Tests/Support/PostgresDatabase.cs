using Npgsql;

namespace WbcPortal.Tests.Support;

/// <summary>
/// A fresh, empty PostgreSQL database for one test, on the throwaway server `.build/postgres.sh start` runs (the README's test
/// command starts it: <c>WBC_TEST_POSTGRES</c> is its superuser connection string); dropped when disposed.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private const string ServerVariable = "WBC_TEST_POSTGRES";

    private PostgresDatabase(string name, string connectionString)
    {
        Name = name;
        ConnectionString = connectionString;
    }

    public string Name { get; }
    public string ConnectionString { get; }

    /// <summary>
    /// Null when a server is there; otherwise why not, for a skip, except in CI (<c>CI</c> set), whose test command starts one,
    /// where it fails.
    /// </summary>
    public static string? Unavailable()
    {
        if (!string.IsNullOrWhiteSpace(System.Environment.GetEnvironmentVariable(ServerVariable))) return null;
        string why = $"No PostgreSQL server for the tests ({ServerVariable} is not set): the README's test command (.build/test.sh) starts one " +
                     "(.build/postgres.sh start; PostgreSQL from apt); these tests run the portal on PostgreSQL.";
        if (!string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("CI"))) Assert.Fail(why + " CI runs that command, so this is a failure here.");
        return why;
    }

    public static async Task<PostgresDatabase> CreateAsync()
    {
        var server = System.Environment.GetEnvironmentVariable(ServerVariable) ?? throw new InvalidOperationException($"{ServerVariable} is not set.");
        string name = $"wbc_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        return new PostgresDatabase(name, new NpgsqlConnectionStringBuilder(server) { Database = name, Pooling = false }.ToString());
    }

    /// <summary>The settings a node (portal, worker, verb) needs to use this database, as environment variables.</summary>
    public Dictionary<string, string> Settings(params (string Key, string Value)[] more)
    {
        var env = new Dictionary<string, string> { ["Storage__Provider"] = "PostgreSql", ["Storage__ConnectionString"] = ConnectionString };
        foreach (var (k, v) in more) env[k] = v;
        return env;
    }

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        if (value is null or DBNull) return default;
        return (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<List<object[]>> RowsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object[]>();
        while (await reader.ReadAsync())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    public async ValueTask DisposeAsync()
    {
        var server = System.Environment.GetEnvironmentVariable(ServerVariable);
        if (server is null) return;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(server);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
