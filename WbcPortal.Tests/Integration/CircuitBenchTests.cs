using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// <c>bench --only circuits</c> at a tiny size (0 and 2 circuits), run as a user runs it: the portal executable, which starts a
/// second portal node and a headless Chromium. It must hold both circuits live, answer a click on each and print its table.
/// Its figures are not checked (a benchmark's numbers belong in its output, never in an assertion).
/// </summary>
[Trait("Category", "Browser")]
public sealed class CircuitBenchTests
{
    [Fact]
    public async Task Circuits_bench_holds_its_circuits_and_prints_its_table()
    {
        if (!File.Exists(Browser.BrowserFixture.ChromiumPath)) Assert.Skip($"Needs Chromium at {Browser.BrowserFixture.ChromiumPath}.");
        using var data = new TempDirectory("wbc-bench-cli");
        using var process = PortalProcess.Start(["bench", "--only", "circuits", "--data-dir", data.Path], new Dictionary<string, string>
        {
            ["Bench__Circuits__Steps"] = "0,2",
            ["Bench__Circuits__Sample"] = "2",
            ["Bench__Circuits__SettleSeconds"] = "1",
            // A busy test machine still runs it: the memory floor is the full-size bench's guard.
            ["Bench__Circuits__MinAvailableMegabytes"] = "0",
        });
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string output = await stdout, errors = await stderr;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}:\n{errors}\n{output}");

        var rows = output.Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Contains(rows, r => r.StartsWith("benchmark ", StringComparison.Ordinal));
        foreach (var name in new[] { "circuits.0.node-rss", "circuits.2.node-rss", "circuits.per-circuit.node-rss", "circuits.per-circuit.node-heap", "circuits.per-circuit.chromium" })
        {
            Assert.Contains(rows, r => r.StartsWith(name + " ", StringComparison.Ordinal));
        }
        // Both circuits connected on the node, and both answered the click.
        var two = rows.Single(r => r.StartsWith("circuits.2.node-rss ", StringComparison.Ordinal));
        Assert.Contains("2/2 connected", two);
        Assert.Contains("of 2;", two);
        Assert.DoesNotContain("unanswered", two);
        var held = rows.Single(r => r.StartsWith("circuits.held ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(("2.00", "2.00"), (held[1], held[3]));
        // No ceiling at this size: every step ran.
        Assert.DoesNotContain("stopped at", output);
    }
}
