using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using WbcPortal.Components.Pages.Runs.Report;
using WbcPortal.Services.Training;
using PlotLayout = Plotly.Blazor.Layout;

namespace WbcPortal.Components.Pages.Runs;

/// <summary>
/// The compare page's overlaid epoch curves: one line per run, epochs numbered across both rounds, and the start of
/// round 2 marked (one grey line when every run has the same round 1, else a line per run in its colour).
/// </summary>
public static class CompareCharts
{
    private static readonly string[] Palette = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#546e7a"];
    private const string TextColour = "#8a8a8a";
    private const string GridColour = "rgba(138,138,138,0.25)";

    public static string RunColour(int index) => Palette[index % Palette.Length];

    public static Config Config { get; } = new() { Responsive = true, DisplayLogo = false, DisplayModeBar = Plotly.Blazor.ConfigLib.DisplayModeBarEnum.False };

    public static IList<ITrace> Traces(IReadOnlyList<ComparedRun> runs, Func<EpochPoint, double> y) =>
        runs.Select((run, i) => (ITrace)new Scatter
        {
            Name = run.Name,
            Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines | Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers,
            X = run.Epochs.Select(e => (object)e.Index).ToList(),
            Y = run.Epochs.Select(e => (object)y(e)).ToList(),
            HoverTextArray = run.Epochs.Select(e => $"{run.Name}: round {e.Round}, epoch {e.Epoch}").ToList(),
            HoverInfo = Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Text | Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Y,
            Line = new Plotly.Blazor.Traces.ScatterLib.Line { Color = RunColour(i), Width = 2m },
            Marker = new Plotly.Blazor.Traces.ScatterLib.Marker { Color = RunColour(i), Size = 6m },
        }).ToList();

    public static PlotLayout Layout(IReadOnlyList<ComparedRun> runs, string yTitle, bool percent)
    {
        var layout = new PlotLayout
        {
            PaperBgColor = "rgba(0,0,0,0)",
            PlotBgColor = "rgba(0,0,0,0)",
            Font = new Font { Color = TextColour },
            Margin = new Margin { L = 60, R = 20, T = 30, B = 50 },
            Height = 340,
            HoverMode = HoverModeEnum.Closest,
            Legend = [new Legend { Orientation = Plotly.Blazor.LayoutLib.LegendLib.OrientationEnum.H, Y = 1.15m }],
            XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = "epoch (round 1, then round 2)" }, DTick = 1, GridColor = GridColour, ZeroLineColor = GridColour }],
            YAxis = [new YAxis
            {
                Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle },
                GridColor = GridColour,
                ZeroLineColor = GridColour,
                TickFormat = percent ? ".0%" : null,
            }],
            Shapes = [],
            Annotations = [],
        };
        var boundaries = Boundaries(runs);
        bool shared = boundaries.Select(b => b.At).Distinct().Count() == 1 && boundaries.Count == runs.Count;
        var lines = shared ? [(boundaries[0].At, -1)] : boundaries;
        for (int k = 0; k < lines.Count; k++)
        {
            var (at, index) = lines[k];
            string colour = index < 0 ? TextColour : RunColour(index);
            ChartStyle.MarkRound2(layout, at, colour, k);
        }
        return layout;
    }

    /// <summary>Where round 2 starts on the shared epoch axis, for each run that has both rounds (halfway between the epochs).</summary>
    public static IReadOnlyList<(double At, int RunIndex)> Boundaries(IReadOnlyList<ComparedRun> runs) =>
        runs.Select((r, i) => (Run: r, Index: i))
            .Where(x => x.Run.Round1Epochs > 0 && x.Run.Epochs.Any(e => e.Round == 2))
            .Select(x => (x.Run.Round1Epochs + 0.5, x.Index))
            .ToList();
}
