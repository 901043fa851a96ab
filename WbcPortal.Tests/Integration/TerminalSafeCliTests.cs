using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using WbcPortal.Cli;
using WbcPortal.Extensions;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// Issue 24, smaller finding 1: file names and other text from outside reach the terminal with their control characters
/// and bidi overrides escaped, in every verb's text for people and in the console log; the JSON output stays exact.
/// </summary>
public class TerminalSafeCliTests
{
    /// <summary>An escape sequence (recolour, then retitle the window), a bidi override, a C1 CSI, a bell, a newline and a carriage return.</summary>
    private const string Hostile = "red\u001b[31mcell\u001b]0;pwned\u0007\u202Egpj.exe\u009b2J\nforged: ok\rX";

    private static bool HasUnsafe(string text) => text.Any(c => c != '\n' && c != '\r' && TerminalSafeWriter.IsUnsafe(c));

    [Fact]
    public void The_writer_escapes_controls_and_bidi_overrides_and_keeps_its_own_line_ends_tabs_and_letters()
    {
        var inner = new StringWriter { NewLine = "\n" };
        var writer = new TerminalSafeWriter(inner);
        writer.WriteLine($"file {Hostile}");
        writer.Write('\u202E');
        writer.Write("\tétude 细胞 \u0085");
        writer.Write(new[] { 'a', '\u001b', 'b' }, 0, 3);
        writer.WriteLine(42);
        writer.WriteLine("{0}!", "\u2066x\u2069");

        Assert.Equal(
            "file red\\x1b[31mcell\\x1b]0;pwned\\x07\\u202egpj.exe\\x9b2J\\x0aforged: ok\\x0dX\n" +
            "\\u202e\tétude 细胞 \\x85a\\x1bb42\n" +
            "\\u2066x\\u2069!\n",
            inner.ToString());
        Assert.Equal("plain text, é, 细胞", TerminalSafeWriter.Escape("plain text, é, 细胞"));
        Assert.Equal("line one\nline\\x1b two\r\n", TerminalSafeWriter.Escape("line one\nline\u001b two\r\n", keepNewLines: true));
    }

    [Fact]
    public async Task Import_lists_a_hostile_file_name_escaped_in_text_and_exact_in_json()
    {
        using var data = new TempDirectory();
        using var source = new TempDirectory();
        ImportFixtures.Write(source.Path, "EOSINOPHIL/good.jpg", ImportFixtures.Jpeg(1));
        ImportFixtures.Write(source.Path, $"EOSINOPHIL/{Hostile}.jpg", [1, 2, 3]);

        var (code, stdout, stderr) = await RunAsync("import", source.Path, "--name", "cells", "--data-dir", data.Path);
        Assert.True(code == 0, stderr);
        Assert.False(HasUnsafe(stdout), stdout);
        Assert.False(HasUnsafe(stderr), stderr);
        Assert.Contains("EOSINOPHIL/red\\x1b[31mcell\\x1b]0;pwned\\x07\\u202egpj.exe\\x9b2J\\x0aforged: ok\\x0dX.jpg: ", stdout);
        Assert.DoesNotContain("\nforged: ok", stdout);

        ImportFixtures.Write(source.Path, "EOSINOPHIL/good2.jpg", ImportFixtures.Jpeg(2));
        var (jsonCode, json, jsonErr) = await RunAsync("import", source.Path, "--name", "cells", "--data-dir", data.Path, "--json");
        Assert.True(jsonCode == 0, jsonErr);
        Assert.False(HasUnsafe(json) || json.Contains('\u202E'), json);
        var files = JsonDocument.Parse(json).RootElement.GetProperty("rejected").EnumerateArray().Select(r => r.GetProperty("file").GetString()).ToList();
        Assert.Contains($"EOSINOPHIL/{Hostile}.jpg", files);
    }

    [Fact]
    public async Task A_verbs_one_line_failure_naming_a_hostile_path_is_escaped()
    {
        using var data = new TempDirectory();
        var (code, stdout, stderr) = await RunAsync("import", $"/no/such/{Hostile}", "--name", "cells", "--data-dir", data.Path);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.False(HasUnsafe(stderr), stderr);
        Assert.Contains("/no/such/red\\x1b[31mcell", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void The_console_log_is_wrapped_and_escapes_messages_and_exceptions()
    {
        // The registration: the console provider is only reached through the escaping one.
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddTerminalSafeConsole());
        using (var provider = services.BuildServiceProvider())
        {
            var providers = provider.GetServices<ILoggerProvider>().ToList();
            Assert.Contains(providers, p => p is TerminalSafeLoggerProvider);
            Assert.DoesNotContain(providers, p => p is ConsoleLoggerProvider);
        }

        // What the wrapped provider is handed: escaped text, the exception folded in (escaped, its lines kept).
        var captured = new CapturingProvider();
        using var safe = new TerminalSafeLoggerProvider(captured);
        var logger = safe.CreateLogger("test");
        logger.LogWarning("Evaluating {Source} failed", $"zip {Hostile}.zip");
        logger.LogError(new FileNotFoundException($"missing {Hostile}"), "Import of {File} failed", "x\u202Ey");

        Assert.Equal(2, captured.Lines.Count);
        Assert.Equal("Evaluating zip red\\x1b[31mcell\\x1b]0;pwned\\x07\\u202egpj.exe\\x9b2J\\x0aforged: ok\\x0dX.zip failed", captured.Lines[0]);
        Assert.StartsWith("Import of x\\u202ey failed" + Environment.NewLine + "System.IO.FileNotFoundException: missing red\\x1b[31mcell", captured.Lines[1]);
        Assert.All(captured.Lines, l => Assert.False(HasUnsafe(l), l));
        Assert.All(captured.Exceptions, Assert.Null);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private sealed class CapturingProvider : ILoggerProvider
    {
        public List<string> Lines { get; } = [];
        public List<Exception?> Exceptions { get; } = [];

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                owner.Lines.Add(formatter(state, exception));
                owner.Exceptions.Add(exception);
            }
        }
    }
}
