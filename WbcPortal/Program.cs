using WbcPortal;
using WbcPortal.Cli;

if (CliApp.IsVerbInvocation(args))
{
    return await CliApp.RunAsync(args);
}

var app = await PortalHost.BuildAsync(args);
app.Lifetime.ApplicationStarted.Register(() =>
    Console.WriteLine($"WbcPortal is running at {string.Join(", ", app.Urls)} (Ctrl+C to stop)"));
await app.RunAsync();
return 0;
