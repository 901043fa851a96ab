using System.Globalization;
using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using PlotLayout = Plotly.Blazor.Layout;
using Plotly.Blazor.Traces;
using WbcPortal.Engine.Datasets.Exploration;

namespace WbcPortal.Components.Pages;

/// <summary>
/// The Explore charts as Plotly traces and layouts. Backgrounds are transparent and text a mid grey,
/// so the same chart reads on the light and the dark theme.
/// </summary>
public static class ExploreCharts
{
    private static readonly string[] Palette = ["#e91e63", "#3f51b5", "#ff9800", "#009688", "#9c27b0", "#795548", "#607d8b", "#cddc39"];
    private const string TextColour = "#8a8a8a";
    private const string GridColour = "rgba(138,138,138,0.25)";

    public static string ClassColour(int index) => Palette[index % Palette.Length];

    public static Config Config { get; } = new() { Responsive = true, DisplayLogo = false };

    public static PlotLayout Layout(string xTitle, string yTitle, BarModeEnum? barMode = null, bool xPercent = false) => new()
    {
        PaperBgColor = "rgba(0,0,0,0)",
        PlotBgColor = "rgba(0,0,0,0)",
        Font = new Font { Color = TextColour },
        Margin = new Margin { L = 60, R = 20, T = 20, B = 50 },
        BarMode = barMode,
        Height = 360,
        Legend = [new Legend { Orientation = Plotly.Blazor.LayoutLib.LegendLib.OrientationEnum.H, Y = 1.12m }],
        XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle }, GridColor = GridColour, ZeroLineColor = GridColour, TickSuffix = xPercent ? "%" : null }],
        YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle }, GridColor = GridColour, ZeroLineColor = GridColour }],
    };

    /// <summary>One line per class (its mean density histogram) and the average over every measured image.</summary>
    public static IList<ITrace> Histograms(ExplorationResult result)
    {
        var x = Enumerable.Range(0, 256).Cast<object>().ToList();
        var traces = new List<ITrace>();
        for (int i = 0; i < result.Classes.Count; i++)
        {
            var c = result.Classes[i];
            traces.Add(new Scatter
            {
                Name = c.ClassName,
                Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines,
                X = x,
                Y = c.Density.Cast<object>().ToList(),
                Line = new Plotly.Blazor.Traces.ScatterLib.Line { Color = ClassColour(i), Width = 1.5m },
            });
        }
        traces.Add(new Scatter
        {
            Name = "average",
            Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines,
            X = x,
            Y = result.AverageDensity.Cast<object>().ToList(),
            Line = new Plotly.Blazor.Traces.ScatterLib.Line { Color = TextColour, Width = 3m, Dash = "dash" },
        });
        return traces;
    }

    /// <summary>
    /// A y range that fits the cells, not the spike of black border pixels in the darkest bins
    /// (those are measured separately, under rotation borders).
    /// </summary>
    public static void FitHistogramRange(PlotLayout layout, ExplorationResult result)
    {
        double top = result.Classes.Select(c => c.Density).Append(result.AverageDensity)
            .SelectMany(d => d.Skip(PixelMeasures.DefaultBlackLevel)).DefaultIfEmpty(0).Max();
        if (top > 0) layout.YAxis[0].Range = new List<object> { 0, Math.Round(top * 1.15, 4) };
    }

    /// <summary>Grouped bars: per class, the mean percentage of pixels darker than each level.</summary>
    public static void FillThresholds(IList<ITrace> traces, ExplorationResult result, IReadOnlyList<int> levels)
    {
        traces.Clear();
        var classes = result.Classes.Select(c => (object)c.ClassName).Append("average").ToList();
        string[] shades = ["#90caf9", "#42a5f5", "#1565c0", "#0d47a1"];
        for (int l = 0; l < levels.Count; l++)
        {
            int level = levels[l];
            traces.Add(new Bar
            {
                Name = $"< {level.ToString(CultureInfo.InvariantCulture)}",
                X = classes,
                Y = result.Classes.Select(c => (object)Math.Round(c.FractionBelow(level) * 100, 1)).Append(Math.Round(result.FractionBelow(level) * 100, 1)).ToList(),
                Marker = new Plotly.Blazor.Traces.BarLib.Marker { Color = shades[l % shades.Length] },
            });
        }
    }

    /// <summary>Overlaid histograms of the per-image share of near-black pixels, in percent of each class's images.</summary>
    public static IList<ITrace> Borders(ExplorationResult result)
    {
        var traces = new List<ITrace>();
        for (int i = 0; i < result.Classes.Count; i++)
        {
            var c = result.Classes[i];
            traces.Add(new Histogram
            {
                Name = c.ClassName,
                X = c.BlackFractions.Select(f => (object)Math.Round(f * 100, 2)).ToList(),
                HistNorm = Plotly.Blazor.Traces.HistogramLib.HistNormEnum.Percent,
                XBins = new Plotly.Blazor.Traces.HistogramLib.XBins { Start = 0, Size = 1 },
                Opacity = 0.6m,
                Marker = new Plotly.Blazor.Traces.HistogramLib.Marker { Color = ClassColour(i) },
            });
        }
        return traces;
    }
}
