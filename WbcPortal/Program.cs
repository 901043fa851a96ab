using Microsoft.Extensions.Options;
using WbcPortal;
using WbcPortal.Cli;

// --read-only is a flag for the portal; the configuration reads it as a setting.
args = args.Select(a => a == "--read-only" ? "--Storage:ReadOnly=true" : a).ToArray();
if (CliApp.IsVerbInvocation(args))
{
    return await CliApp.RunAsync(args);
}

// Start-up failures name folders and settings: written with control characters escaped, as the verbs' text is.
var errors = TerminalSafeWriter.Wrap(Console.Error);
try
{
    var app = await PortalHost.BuildAsync(args);
    app.Lifetime.ApplicationStarted.Register(() =>
        Console.WriteLine($"WbcPortal is running at {string.Join(", ", app.Urls)} (Ctrl+C to stop)"));
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException ex)
{
    errors.WriteLine($"WbcPortal: configuration error: {string.Join(" ", ex.Failures)}");
    return 2;
}
catch (WbcPortal.Storage.DataFolderLockedException ex)
{
    errors.WriteLine($"WbcPortal: {ex.Message}");
    return 3;
}
catch (WbcPortal.Storage.DataFolderDamagedException ex)
{
    errors.WriteLine($"WbcPortal: {ex.Message}");
    return 4;
}
catch (WbcPortal.Storage.DataFolderFullException ex)
{
    Console.Error.WriteLine($"WbcPortal: {ex.Message}");
    return 5;
}
