using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using WbcPortal.Cli;

namespace WbcPortal.Extensions;

/// <summary>The console log, with the text of every message escaped for the terminal (<see cref="TerminalSafeWriter"/>).</summary>
public static class TerminalSafeLogging
{
    /// <summary>
    /// Adds the console logger (as <c>AddConsole</c>) and wraps it: a message that names an uploaded file, a dataset or a
    /// folder is written with its control characters and bidi overrides escaped. The other providers are left as they are.
    /// </summary>
    public static ILoggingBuilder AddTerminalSafeConsole(this ILoggingBuilder logging, Action<ConsoleLoggerOptions>? configure = null)
    {
        if (configure is null) logging.AddConsole();
        else logging.AddConsole(configure);
        logging.Services.RemoveWhere(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider));
        logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoggerProvider, TerminalSafeLoggerProvider>(sp => new TerminalSafeLoggerProvider(
            new ConsoleLoggerProvider(sp.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), sp.GetServices<ConsoleFormatter>()))));
        return logging;
    }

    private static void RemoveWhere(this IServiceCollection services, Func<ServiceDescriptor, bool> match)
    {
        foreach (var descriptor in services.Where(match).ToList()) services.Remove(descriptor);
    }
}

/// <summary>
/// A logger provider that escapes what another one writes: the message, and an exception's text (which the console would
/// otherwise print raw after it) folded into the message line by line. Settings under <c>Logging:Console</c> apply to it.
/// </summary>
[ProviderAlias("Console")]
public sealed class TerminalSafeLoggerProvider(ILoggerProvider inner) : ILoggerProvider, ISupportExternalScope
{
    public ILogger CreateLogger(string categoryName) => new SafeLogger(inner.CreateLogger(categoryName));

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (inner as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

    public void Dispose() => inner.Dispose();

    private sealed class SafeLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (exception is null)
            {
                inner.Log(logLevel, eventId, state, null, (s, e) => TerminalSafeWriter.Escape(formatter(s, e)));
                return;
            }
            // Written after the message, as the console writes an exception, but escaped (its message may name a file).
            inner.Log(logLevel, eventId, state, null, (s, _) =>
                TerminalSafeWriter.Escape(formatter(s, exception)) + Environment.NewLine + TerminalSafeWriter.Escape(exception.ToString(), keepNewLines: true));
        }
    }
}
