using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;

namespace WbcPortal.Components.Pages.Runs.Report;

/// <summary>The run page's Plotly look: transparent (works in the dark theme), no mode bar, titled axes.</summary>
public static class ChartStyle
{
    /// <summary>Grid lines that read on the light and the dark theme alike.</summary>
    private const string Grid = "rgba(128,128,128,0.25)";

    public static Config Config => new() { Responsive = true, DisplayModeBar = Plotly.Blazor.ConfigLib.DisplayModeBarEnum.False };

    public static Plotly.Blazor.Layout Layout(string title, string xTitle, string? yTitle = null, object? xTick = null) => new()
    {
        Title = new Title { Text = title },
        PaperBgColor = "rgba(0,0,0,0)",
        PlotBgColor = "rgba(0,0,0,0)",
        Font = new Font { Color = "#888" },
        XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle }, DTick = xTick, GridColor = Grid, ZeroLineColor = Grid }],
        YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle }, GridColor = Grid, ZeroLineColor = Grid }],
        Margin = new Margin { T = 40, B = 40, L = 50, R = 10 },
    };

    public static Scatter Line(string name, IList<object> x, IEnumerable<object> y) => new()
    {
        Name = name,
        Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines | Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers,
        X = x,
        Y = y.ToList(),
    };
}
