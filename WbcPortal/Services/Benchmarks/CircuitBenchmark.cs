using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using WbcPortal.Endpoints;
using WbcPortal.Engine.Benchmarks;

namespace WbcPortal.Services.Benchmarks;

/// <summary>The settings of <c>bench --only circuits</c> (<c>Bench:Circuits</c> in appsettings.json).</summary>
public sealed class CircuitBenchOptions
{
    public const string Section = "Bench:Circuits";

    /// <summary>Live circuits to hold at each step, ascending, comma-separated; the bench stops early at the memory floor.</summary>
    public string Steps { get; set; } = "0,10,25,50,100,200,300,500,750,1000";

    /// <summary>No more circuits are opened once the machine's MemAvailable falls under this (the ceiling).</summary>
    public int MinAvailableMegabytes { get; set; } = 4096;

    /// <summary>The page every circuit shows (a signed-in page that follows live updates).</summary>
    public string Page { get; set; } = "/runs";

    /// <summary>The circuits at each step whose click round trip is timed (spread over all that are open).</summary>
    public int Sample { get; set; } = 10;

    /// <summary>Tabs opened at once while a step fills up.</summary>
    public int OpenConcurrency { get; set; } = 4;

    /// <summary>
    /// Tabs one Chromium holds before the next is started (each signs in on its own): one browser keeps at most 255 WebSockets,
    /// and the circuits past that fall back to long polling, six connections per host, and stall. A client's limit, not the node's.
    /// </summary>
    public int TabsPerBrowser { get; set; } = 200;

    /// <summary>Chromium's renderer processes at most (per browser): tabs of one site share them past this (the client's memory, not the node's).</summary>
    public int RendererProcesses { get; set; } = 8;

    /// <summary>Seconds every step waits once its circuits are open, before it measures.</summary>
    public int SettleSeconds { get; set; } = 3;

    public string Chromium { get; set; } = "/usr/bin/chromium";

    internal IReadOnlyList<int> StepList()
    {
        var steps = Steps.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n
                : throw new InvalidOperationException($"{Section}:Steps must be whole numbers separated by commas, not '{Steps}'."))
            .ToList();
        if (steps.Count == 0 || steps.Zip(steps.Skip(1)).Any(p => p.Second <= p.First))
            throw new InvalidOperationException($"{Section}:Steps must be ascending, not '{Steps}'.");
        return steps;
    }
}

/// <summary>
/// <c>bench --only circuits</c>: how many live browser circuits one web node holds, and what they cost it. A real portal node
/// (<see cref="PortalNode"/>: this program started again, on a fresh data folder) and a real headless Chromium
/// (<see cref="HeadlessChromium"/>) signed in as its Admin; tabs on a live page (<see cref="CircuitBenchOptions.Page"/>) are
/// opened step by step, and at each step the node's resident memory (VmRSS, from /proc), its managed heap after a full
/// collection and its circuit count (<c>/diagnostics/memory</c>), a click's round trip on a sample of the circuits (the theme
/// switch: the server handles it, calls the browser, renders, and the page changes), and Chromium's own memory (PSS of its
/// processes: the client, not the node). The steps stop at the last one, or once the machine's MemAvailable falls under
/// <see cref="CircuitBenchOptions.MinAvailableMegabytes"/> (the ceiling, said in the figures).
/// </summary>
public sealed class CircuitBenchmark(IConfiguration configuration) : IBenchmark
{
    private const double MB = 1024 * 1024;

    public string Name => "circuits";
    public string Description => "Live Blazor circuits on one portal node (a separate process), opened step by step from headless Chromium: the node's resident memory and managed heap per step and per circuit, a click's round trip on a sample, Chromium's memory beside";

    public IReadOnlyList<BenchResult> Run(IProgress<string>? progress, CancellationToken cancellationToken) =>
        RunAsync(progress, cancellationToken).GetAwaiter().GetResult();

    /// <summary>One step's measurements.</summary>
    private sealed record Step(int Target, int Open, MemoryDiagnostics Node, long ChromiumBytes, int ChromiumProcesses, List<double> Clicks, int Unanswered,
        double OpenMsPerCircuit, long AvailableBytes);

    private async Task<IReadOnlyList<BenchResult>> RunAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var options = configuration.GetSection(CircuitBenchOptions.Section).Get<CircuitBenchOptions>() ?? new CircuitBenchOptions();
        var steps = options.StepList();
        long floor = (long)options.MinAvailableMegabytes * 1024 * 1024;
        if (!File.Exists(options.Chromium)) throw new FileNotFoundException($"This benchmark needs Chromium at {options.Chromium} (set {CircuitBenchOptions.Section}:Chromium).", options.Chromium);

        progress?.Report("starting a portal node");
        await using var node = await PortalNode.StartAsync(cancellationToken);
        progress?.Report($"node {node.ProcessId} on {node.Address}; starting Chromium");
        var browsers = new List<HeadlessChromium>();
        try
        {
            return await StepsAsync(node, browsers, steps, floor, options, progress, cancellationToken);
        }
        finally
        {
            foreach (var browser in browsers) await browser.DisposeAsync();
        }
    }

    /// <summary>A signed-in browser with room for another tab: the last one, or a new one once it holds <see cref="CircuitBenchOptions.TabsPerBrowser"/>.</summary>
    private static async Task<HeadlessChromium> BrowserWithRoomAsync(List<HeadlessChromium> browsers, int tabs, PortalNode node, CircuitBenchOptions options,
        CancellationToken cancellationToken)
    {
        if (browsers.Count > 0 && tabs < browsers.Count * options.TabsPerBrowser) return browsers[^1];
        var browser = await HeadlessChromium.LaunchAsync(options.Chromium, options.RendererProcesses, cancellationToken);
        browsers.Add(browser);
        await SignInAsync(browser, node, cancellationToken);
        return browser;
    }

    private static async Task<IReadOnlyList<BenchResult>> StepsAsync(PortalNode node, List<HeadlessChromium> browsers, IReadOnlyList<int> steps, long floor,
        CircuitBenchOptions options, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var first = await BrowserWithRoomAsync(browsers, 0, node, options, cancellationToken);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, UseCookies = false }) { BaseAddress = node.Address, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Add("Cookie", await first.CookieHeaderAsync(node.Address.Host, cancellationToken));

        var tabs = new List<HeadlessChromium.Tab>();
        var measured = new List<Step>();
        string? ceiling = null;
        try
        {
            foreach (int target in steps)
            {
                var watch = Stopwatch.StartNew();
                int before = tabs.Count;
                while (tabs.Count < target)
                {
                    long available = ProcessTree.AvailableBytes();
                    if (available > 0 && available < floor)
                    {
                        ceiling = $"stopped at {tabs.Count} circuits: the machine's MemAvailable {available / MB:N0} MB fell under {CircuitBenchOptions.Section}:MinAvailableMegabytes {options.MinAvailableMegabytes}";
                        break;
                    }
                    var browser = await BrowserWithRoomAsync(browsers, tabs.Count, node, options, cancellationToken);
                    int batch = Math.Min(Math.Min(options.OpenConcurrency, target - tabs.Count), browsers.Count * options.TabsPerBrowser - tabs.Count);
                    var opening = Enumerable.Range(0, batch).Select(_ => OpenLiveAsync(browser, new Uri(node.Address, options.Page.TrimStart('/')), cancellationToken)).ToList();
                    try
                    {
                        await Task.WhenAll(opening);
                    }
                    catch (TimeoutException ex)
                    {
                        // A circuit that does not go live is where this node (or this client) stops: measure what is there.
                        ceiling = $"stopped at {tabs.Count + opening.Count(t => t.IsCompletedSuccessfully)} circuits: {ex.Message}";
                    }
                    tabs.AddRange(opening.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                    if (ceiling is not null) break;
                }
                double openMs = tabs.Count > before ? watch.Elapsed.TotalMilliseconds / (tabs.Count - before) : 0;
                if (tabs.Count < target && measured.Count > 0 && measured[^1].Open == tabs.Count) break;
                await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken);
                var step = await MeasureAsync(target, tabs, http, browsers, options.Sample, openMs, cancellationToken);
                measured.Add(step);
                progress?.Report(FormattableString.Invariant(
                    $"{step.Open,4} circuits: node {step.Node.ResidentBytes / MB,6:F1} MB resident, heap {step.Node.ManagedBytes / MB,6:F1} MB, {step.Node.CircuitsConnected} connected; click {Median(step.Clicks),5:F1} ms median; Chromium {step.ChromiumBytes / MB,7:F0} MB ({browsers.Count} browser(s), {step.ChromiumProcesses} processes); MemAvailable {step.AvailableBytes / MB:N0} MB"));
                if (ceiling is not null) break;
            }
        }
        finally
        {
            // Tabs go with their browser; the node is killed on dispose.
            tabs.Clear();
        }
        return Results(measured, ceiling, options);
    }

    private static async Task SignInAsync(HeadlessChromium browser, PortalNode node, CancellationToken cancellationToken)
    {
        var tab = await browser.OpenAsync(new Uri(node.Address, "account/signin"), cancellationToken);
        await WaitAsync(tab, "!!document.querySelector('[data-testid=signin-submit]')", "the sign-in form", cancellationToken);
        string user = System.Text.Json.JsonSerializer.Serialize(PortalNode.AdminUser), password = System.Text.Json.JsonSerializer.Serialize(node.AdminPassword);
        await tab.EvaluateAsync($$"""
            (() => {
              document.querySelector('[data-testid=signin-user]').value = {{user}};
              document.querySelector('[data-testid=signin-password]').value = {{password}};
              document.querySelector('[data-testid=signin-submit]').click();
              return true;
            })()
            """, TimeSpan.FromSeconds(10), cancellationToken);
        await WaitAsync(tab, "!location.pathname.startsWith('/account/signin') && !!document.querySelector('[data-testid=interactive]')", "the first page after signing in", cancellationToken);
        await tab.CloseAsync(cancellationToken);
    }

    /// <summary>A tab on <paramref name="url"/>, once its circuit is live (the layout's marker renders only interactively).</summary>
    private static async Task<HeadlessChromium.Tab> OpenLiveAsync(HeadlessChromium browser, Uri url, CancellationToken cancellationToken)
    {
        var tab = await browser.OpenAsync(url, cancellationToken);
        await WaitAsync(tab, $"location.href.startsWith({System.Text.Json.JsonSerializer.Serialize(url.ToString())}) && !!document.querySelector('[data-testid=interactive]')",
            $"a live circuit on {url}", cancellationToken);
        return tab;
    }

    /// <summary>Polls <paramref name="condition"/> in the tab (a navigation in between is no failure) for at most 90 s.</summary>
    private static async Task WaitAsync(HeadlessChromium.Tab tab, string condition, string what, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var value = await tab.EvaluateAsync($"(() => {{ try {{ return ({condition}) ? 'yes' : location.href; }} catch (e) {{ return String(e); }} }})()", TimeSpan.FromSeconds(30), cancellationToken);
                if (value.ValueKind == System.Text.Json.JsonValueKind.String && value.GetString() == "yes") return;
                last = value.ToString();
            }
            catch (InvalidOperationException ex)
            {
                // "Execution context was destroyed": the page navigated while the script ran.
                last = ex.Message;
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new TimeoutException($"Waited 90 s for {what} (last: {last}).");
    }

    /// <summary>The theme switch clicked, timed until its state flips on the page (the server handles the click, calls the browser, renders).</summary>
    private const string ClickRoundTrip = """
        new Promise(resolve => {
          const find = () => document.querySelector('[data-testid=theme-toggle]');
          const button = find();
          if (!button) { resolve(-1); return; }
          const before = button.getAttribute('aria-pressed');
          const start = performance.now();
          let observer, timer;
          const done = value => { observer.disconnect(); clearTimeout(timer); resolve(value); };
          observer = new MutationObserver(() => { const now = find(); if (now && now.getAttribute('aria-pressed') !== before) done(performance.now() - start); });
          observer.observe(document.body, { subtree: true, childList: true, attributes: true });
          timer = setTimeout(() => done(-2), 30000);
          button.click();
        })
        """;

    private static async Task<Step> MeasureAsync(int target, List<HeadlessChromium.Tab> tabs, HttpClient http, List<HeadlessChromium> browsers, int sample, double openMs,
        CancellationToken cancellationToken)
    {
        var node = await http.GetFromJsonAsync<MemoryDiagnostics>($"{DiagnosticsEndpoints.MemoryPath.TrimStart('/')}?collect=true", cancellationToken)
            ?? throw new InvalidOperationException("The node's diagnostics answered nothing.");
        var memory = browsers.Select(b => b.Memory()).ToList();
        long chromium = memory.Sum(m => m.Bytes);
        int processes = memory.Sum(m => m.Processes);
        long available = ProcessTree.AvailableBytes();
        var clicks = new List<double>();
        int unanswered = 0;
        int count = Math.Min(sample, tabs.Count);
        for (int i = 0; i < count; i++)
        {
            // Spread over every open tab: the oldest, the newest and those between.
            var tab = tabs[count == 1 ? 0 : (int)Math.Round(i * (tabs.Count - 1) / (double)(count - 1))];
            var ms = await tab.EvaluateAsync(ClickRoundTrip, TimeSpan.FromSeconds(35), cancellationToken);
            double value = ms.ValueKind == System.Text.Json.JsonValueKind.Number ? ms.GetDouble() : -1;
            if (value >= 0) clicks.Add(value);
            else unanswered++;
        }
        return new Step(target, tabs.Count, node, chromium, processes, clicks, unanswered, openMs, available);
    }

    private static List<BenchResult> Results(List<Step> steps, string? ceiling, CircuitBenchOptions options)
    {
        var results = new List<BenchResult>();
        if (steps.Count == 0) return results;
        var idle = steps[0];
        foreach (var s in steps)
        {
            string clicks = s.Clicks.Count > 0
                ? FormattableString.Invariant($"click {Median(s.Clicks):F1} ms median, {s.Clicks.Max():F1} max of {s.Clicks.Count}{(s.Unanswered > 0 ? $", {s.Unanswered} unanswered" : "")}")
                : s.Unanswered > 0 ? $"{s.Unanswered} clicks unanswered" : "no click (no circuit)";
            results.Add(new BenchResult($"circuits.{s.Open}.node-rss", s.Node.ResidentBytes / MB, "MB", s == idle ? null : idle.Node.ResidentBytes / MB, s == idle ? null : $"{idle.Open} circuits",
                FormattableString.Invariant(
                    $"heap {s.Node.ManagedBytes / MB:F1} MB after a full GC; {s.Node.CircuitsConnected}/{s.Open} connected ({s.Node.CircuitsOpen} open); {clicks}; {(s.OpenMsPerCircuit > 0 ? $"opened at {s.OpenMsPerCircuit:F0} ms each; " : "")}Chromium {s.ChromiumBytes / MB:F0} MB PSS in {s.ChromiumProcesses} processes")));
        }
        var loaded = steps.Where(s => s.Open > 0).ToList();
        var fit = loaded.Count >= 2 ? loaded : steps;
        if (fit.Count >= 2 && fit[^1].Open > fit[0].Open)
        {
            double rss = Slope(fit, s => s.Node.ResidentBytes), heap = Slope(fit, s => s.Node.ManagedBytes), client = Slope(fit, s => s.ChromiumBytes);
            string over = $"least squares over the steps with {string.Join(", ", fit.Select(s => s.Open))} circuits";
            results.Add(new BenchResult("circuits.per-circuit.node-rss", rss / 1024, "KB", null, null, $"the node's resident memory per live circuit, {over}"));
            results.Add(new BenchResult("circuits.per-circuit.node-heap", heap / 1024, "KB", null, null, $"its managed heap (after a full GC) per live circuit, {over}"));
            results.Add(new BenchResult("circuits.per-circuit.chromium", client / 1024, "KB", null, null,
                $"the client's memory per tab (PSS; {options.TabsPerBrowser} tabs a browser, {options.RendererProcesses} renderer processes each at most): not the node's"));
        }
        var last = steps[^1];
        results.Add(new BenchResult("circuits.held", last.Node.CircuitsConnected, "count", last.Open, "tabs open",
            ceiling ?? $"the last step ({options.StepList()[^1]}); every step's circuits on {options.Page}, each signed in as an Admin"));
        return results;
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Bytes per circuit: the least-squares slope of <paramref name="bytes"/> over the open circuits.</summary>
    private static double Slope(List<Step> steps, Func<Step, long> bytes)
    {
        double mx = steps.Average(s => (double)s.Open), my = steps.Average(s => (double)bytes(s));
        double sxy = steps.Sum(s => (s.Open - mx) * (bytes(s) - my)), sxx = steps.Sum(s => (s.Open - mx) * (s.Open - mx));
        return sxx > 0 ? sxy / sxx : 0;
    }
}
