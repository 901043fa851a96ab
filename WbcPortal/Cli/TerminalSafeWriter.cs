using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace WbcPortal.Cli;

/// <summary>
/// Text for a terminal with nothing in it that the terminal would act on: C0 and C1 control characters (an escape
/// sequence can recolour, move the cursor, retitle the window or, on some terminals, write files), DEL, and the Unicode
/// bidirectional overrides and isolates (U+202A-202E, U+2066-2069, which make <c>cell\u202Egpj.exe</c> read as
/// <c>cellexe.jpg</c>) are written escaped: <c>\x1b</c>, <c>\u202e</c>. A tab stays; a newline stays only where the
/// writer itself ends a line (<see cref="TextWriter.WriteLine()"/>), so a file name cannot start a line of its own.
/// JSON output does not go through it: the serializer already escapes all of these.
/// </summary>
public sealed class TerminalSafeWriter(TextWriter inner) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override IFormatProvider FormatProvider => inner.FormatProvider;

    [AllowNull]
    public override string NewLine
    {
        get => inner.NewLine;
        set => inner.NewLine = value;
    }

    /// <summary>Wraps <paramref name="writer"/> unless it already is one.</summary>
    public static TextWriter Wrap(TextWriter writer) => writer as TerminalSafeWriter ?? new TerminalSafeWriter(writer);

    /// <summary>Whether a terminal could act on <paramref name="c"/> (see the class).</summary>
    public static bool IsUnsafe(char c) => c switch
    {
        '\t' => false,
        < '\x20' or '\x7F' => true,
        >= '\x80' and <= '\x9F' => true,
        >= '\u202A' and <= '\u202E' => true,
        >= '\u2066' and <= '\u2069' => true,
        _ => false,
    };

    /// <summary><paramref name="text"/> with every unsafe character escaped; newlines too unless <paramref name="keepNewLines"/>.</summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Escape(string? text, bool keepNewLines = false)
    {
        if (text is null) return null;
        int first = IndexOfUnsafe(text, keepNewLines);
        if (first < 0) return text;
        var escaped = new StringBuilder(text.Length + 16);
        escaped.Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (!IsUnsafe(c) || (keepNewLines && (c == '\n' || (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')))) escaped.Append(c);
            else AppendEscaped(escaped, c);
        }
        return escaped.ToString();
    }

    private static int IndexOfUnsafe(string text, bool keepNewLines)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (IsUnsafe(c) && !(keepNewLines && (c == '\n' || c == '\r'))) return i;
        }
        return -1;
    }

    private static void AppendEscaped(StringBuilder to, char c)
    {
        if (c <= '\xFF') to.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        else to.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
    }

    public override void Write(char value)
    {
        if (IsUnsafe(value)) inner.Write(Escape(value.ToString()));
        else inner.Write(value);
    }

    public override void Write(string? value) => inner.Write(Escape(value));

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void Write(ReadOnlySpan<char> buffer) => Write(new string(buffer));

    public override void WriteLine() => inner.WriteLine();

    public override void WriteLine(string? value) => inner.WriteLine(Escape(value));

    public override void WriteLine(char value) => WriteLine(value.ToString());

    public override void WriteLine(char[] buffer, int index, int count) => WriteLine(new string(buffer, index, count));

    public override void WriteLine(ReadOnlySpan<char> buffer) => WriteLine(new string(buffer));

    public override Task WriteAsync(char value) => inner.WriteAsync(Escape(value.ToString()));

    public override Task WriteAsync(string? value) => inner.WriteAsync(Escape(value));

    public override Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(Escape(new string(buffer.Span)).AsMemory(), cancellationToken);

    public override Task WriteLineAsync() => inner.WriteLineAsync();

    public override Task WriteLineAsync(char value) => inner.WriteLineAsync(Escape(value.ToString()));

    public override Task WriteLineAsync(string? value) => inner.WriteLineAsync(Escape(value));

    public override Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteLineAsync(Escape(new string(buffer.Span)).AsMemory(), cancellationToken);

    public override void Flush() => inner.Flush();

    public override Task FlushAsync() => inner.FlushAsync();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    // The inner writer (a console, a caller's writer) is not this writer's to close.
    protected override void Dispose(bool disposing) => inner.Flush();
}
