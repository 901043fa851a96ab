using System.Text.Json;
using System.Text.Json.Serialization;

namespace WbcPortal.Cli;

/// <summary>
/// Where a verb writes. With <c>--json</c> stdout carries exactly one JSON document and everything
/// meant for people goes to stderr; without it, people's text goes to stdout. All text for people passes through a
/// <see cref="TerminalSafeWriter"/>: a file name or any other text from outside never reaches the terminal with a control
/// character or a bidi override in it. The JSON document is written as serialized (it escapes them already).
/// </summary>
public sealed class CliOutput(bool json, TextWriter stdout, TextWriter stderr)
{
    private readonly TextWriter humanOut = TerminalSafeWriter.Wrap(stdout);
    private readonly TextWriter humanErr = TerminalSafeWriter.Wrap(stderr);

    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public bool Json { get; } = json;

    /// <summary>Text for people: stdout normally, stderr under --json.</summary>
    public TextWriter Human => Json ? humanErr : humanOut;

    public TextWriter Error => humanErr;

    public IProgress<string> Progress => new StderrProgress(humanErr);

    public void WriteResult<T>(T document, Action<TextWriter> humanText)
    {
        if (Json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
        }
        else
        {
            humanText(humanOut);
        }
    }

    private sealed class StderrProgress(TextWriter writer) : IProgress<string>
    {
        public void Report(string value) => writer.WriteLine(value);
    }
}
