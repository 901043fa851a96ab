using System.Text.Json;
using System.Text.Json.Serialization;

namespace WbcPortal.Cli;

/// <summary>
/// Where a verb writes. With <c>--json</c> stdout carries exactly one JSON document and everything
/// meant for people goes to stderr; without it, people's text goes to stdout.
/// </summary>
public sealed class CliOutput(bool json, TextWriter stdout, TextWriter stderr)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public bool Json { get; } = json;

    /// <summary>Text for people: stdout normally, stderr under --json.</summary>
    public TextWriter Human => Json ? stderr : stdout;

    public TextWriter Error => stderr;

    public IProgress<string> Progress => new StderrProgress(stderr);

    public void WriteResult<T>(T document, Action<TextWriter> humanText)
    {
        if (Json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
        }
        else
        {
            humanText(stdout);
        }
    }

    private sealed class StderrProgress(TextWriter writer) : IProgress<string>
    {
        public void Report(string value) => writer.WriteLine(value);
    }
}
