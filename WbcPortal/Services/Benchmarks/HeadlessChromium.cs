using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// A headless Chromium driven over its DevTools protocol (a WebSocket, JSON messages): what <c>bench --only circuits</c> opens
/// its tabs with. The portal carries no browser-automation package; this is the few commands the bench needs (open a tab,
/// run a script in it and await its promise, read cookies, close a tab). Chromium's own profile lives in a temporary folder,
/// removed on dispose with the whole browser.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly Process process;
    private readonly string profile;
    private readonly ClientWebSocket socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> pending = new();
    private readonly SemaphoreSlim sendLock = new(1, 1);
    private readonly CancellationTokenSource stop = new();
    private Task? receiving;
    private int nextId;

    private HeadlessChromium(Process process, string profile)
    {
        this.process = process;
        this.profile = profile;
    }

    public int ProcessId => process.Id;

    /// <summary>Starts <paramref name="executable"/> headless on a free DevTools port, with at most <paramref name="rendererProcesses"/>
    /// renderer processes (tabs of one site share them past that), and connects to it.</summary>
    public static async Task<HeadlessChromium> LaunchAsync(string executable, int rendererProcesses, CancellationToken cancellationToken)
    {
        if (!File.Exists(executable)) throw new FileNotFoundException($"This benchmark needs Chromium at {executable} (set Bench:Circuits:Chromium; Debian: apt-get install chromium).", executable);
        string profile = Path.Combine(Path.GetTempPath(), $"wbc-bench-chromium-{Guid.NewGuid():N}");
        Directory.CreateDirectory(profile);
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", $"--user-data-dir={profile}",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
            // Every tab stays as live as a tab in front: no timer throttling, no backgrounded renderers (SignalR's pings keep running).
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
            $"--renderer-process-limit={rendererProcesses}",
            "about:blank",
        })
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {executable}.");
        var browser = new HeadlessChromium(process, profile);
        try
        {
            var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (log) log.AppendLine(e.Data);
                const string marker = "DevTools listening on ";
                int at = e.Data.IndexOf(marker, StringComparison.Ordinal);
                if (at >= 0) endpoint.TrySetResult(e.Data[(at + marker.Length)..].Trim());
            };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            var started = await Task.WhenAny(endpoint.Task, Task.Delay(TimeSpan.FromSeconds(30), cancellationToken));
            if (started != endpoint.Task)
            {
                string said;
                lock (log) said = log.ToString();
                throw new TimeoutException($"Chromium did not open its DevTools port within 30 s:\n{said}");
            }
            await browser.socket.ConnectAsync(new Uri(await endpoint.Task), cancellationToken);
            browser.receiving = Task.Run(browser.ReceiveAsync);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends one command (to the browser, or to a tab's session) and waits for its result; a protocol error throws.</summary>
    public async Task<JsonElement> SendAsync(string method, object? parameters, string? sessionId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        int id = Interlocked.Increment(ref nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = reply;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = JsonSerializer.SerializeToNode(parameters ?? new { }) };
        if (sessionId is not null) message["sessionId"] = sessionId;
        byte[] bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await sendLock.WaitAsync(cancellationToken);
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancellationToken);
        }
        finally
        {
            sendLock.Release();
        }
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            return await reply.Task.WaitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Chromium did not answer {method} within {timeout.TotalSeconds:0} s.");
        }
        finally
        {
            pending.TryRemove(id, out _);
        }
    }

    /// <summary>Opens a tab on <paramref name="url"/> and attaches to it; the tab's session id runs scripts in it.</summary>
    public async Task<Tab> OpenAsync(Uri url, CancellationToken cancellationToken)
    {
        var created = await SendAsync("Target.createTarget", new { url = url.ToString() }, null, TimeSpan.FromSeconds(60), cancellationToken);
        string targetId = created.GetProperty("targetId").GetString()!;
        var attached = await SendAsync("Target.attachToTarget", new { targetId, flatten = true }, null, TimeSpan.FromSeconds(60), cancellationToken);
        return new Tab(this, targetId, attached.GetProperty("sessionId").GetString()!);
    }

    /// <summary>Every cookie the browser holds, as one <c>Cookie</c> header for <paramref name="host"/>.</summary>
    public async Task<string> CookieHeaderAsync(string host, CancellationToken cancellationToken)
    {
        var result = await SendAsync("Storage.getCookies", null, null, TimeSpan.FromSeconds(30), cancellationToken);
        return string.Join("; ", result.GetProperty("cookies").EnumerateArray()
            .Where(c => string.Equals(c.GetProperty("domain").GetString()?.TrimStart('.'), host, StringComparison.OrdinalIgnoreCase))
            .Select(c => $"{c.GetProperty("name").GetString()}={c.GetProperty("value").GetString()}"));
    }

    /// <summary>
    /// The browser's memory: the proportional set size (PSS: shared pages split between the processes sharing them) of its
    /// main process and every process under it (renderers, the GPU and network services), from /proc; and how many there are.
    /// </summary>
    public (long Bytes, int Processes) Memory()
    {
        var tree = ProcessTree.Descendants(process.Id);
        return (tree.Sum(ProcessTree.ProportionalBytes), tree.Count);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (socket.State == WebSocketState.Open && !stop.IsCancellationRequested)
            {
                var result = await socket.ReceiveAsync(buffer, stop.Token);
                if (result.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage) continue;
                Dispatch(message.GetBuffer().AsSpan(0, (int)message.Length));
                message.SetLength(0);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        foreach (var waiting in pending.Values) waiting.TrySetException(new InvalidOperationException("Chromium closed its DevTools connection."));
    }

    private void Dispatch(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        var root = doc.RootElement;
        // Events (no id) are not followed: every wait is a script's own promise.
        if (!root.TryGetProperty("id", out var idElement) || !pending.TryGetValue(idElement.GetInt32(), out var reply)) return;
        if (root.TryGetProperty("error", out var error))
        {
            reply.TrySetException(new InvalidOperationException($"Chromium: {error.GetProperty("message").GetString()}"));
            return;
        }
        reply.TrySetResult(root.GetProperty("result").Clone());
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            try
            {
                await SendAsync("Browser.close", null, null, TimeSpan.FromSeconds(10), CancellationToken.None);
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or WebSocketException)
            {
            }
        }
        await stop.CancelAsync();
        if (receiving is not null) await receiving;
        socket.Dispose();
        if (!process.HasExited)
        {
            using var waited = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(waited.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        process.Dispose();
        stop.Dispose();
        sendLock.Dispose();
        try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>One tab, attached: scripts run in its page.</summary>
    public sealed class Tab(HeadlessChromium browser, string targetId, string sessionId)
    {
        /// <summary>Runs <paramref name="expression"/> in the page, awaits it when it is a promise, and returns its value as JSON.</summary>
        public async Task<JsonElement> EvaluateAsync(string expression, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var result = await browser.SendAsync("Runtime.evaluate", new { expression, awaitPromise = true, returnByValue = true }, sessionId,
                timeout + TimeSpan.FromSeconds(5), cancellationToken);
            if (result.TryGetProperty("exceptionDetails", out var failed))
            {
                string text = failed.TryGetProperty("exception", out var ex) && ex.TryGetProperty("description", out var d) ? d.GetString() ?? "" : failed.GetProperty("text").GetString() ?? "";
                throw new InvalidOperationException($"A script in the page failed: {text}");
            }
            return result.GetProperty("result").TryGetProperty("value", out var value) ? value.Clone() : default;
        }

        public Task CloseAsync(CancellationToken cancellationToken) =>
            browser.SendAsync("Target.closeTarget", new { targetId }, null, TimeSpan.FromSeconds(30), cancellationToken);
    }
}

/// <summary>A process and the processes under it, and their memory, from /proc (Linux).</summary>
public static class ProcessTree
{
    /// <summary><paramref name="root"/> and every live process whose parent chain leads to it.</summary>
    public static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ...": the name may hold spaces and parentheses, so read after the last ')'.
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
            {
            }
        }
        var result = new List<int> { root };
        for (int i = 0; i < result.Count; i++)
        {
            result.AddRange(parents.Where(p => p.Value == result[i]).Select(p => p.Key));
        }
        return result;
    }

    /// <summary>VmRSS of <paramref name="pid"/> in bytes (0 when it is gone).</summary>
    public static long ResidentBytes(int pid) => Field($"/proc/{pid}/status", "VmRSS:");

    /// <summary>The proportional set size of <paramref name="pid"/> in bytes (/proc/PID/smaps_rollup; its VmRSS where that is missing).</summary>
    public static long ProportionalBytes(int pid)
    {
        long pss = Field($"/proc/{pid}/smaps_rollup", "Pss:");
        return pss > 0 ? pss : ResidentBytes(pid);
    }

    /// <summary>MemAvailable of the machine in bytes (what can still be had without swapping).</summary>
    public static long AvailableBytes() => Field("/proc/meminfo", "MemAvailable:");

    private static long Field(string path, string name)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                    return long.Parse(line[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
