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

    /// <summary>
    /// Marks where round 2 (the fine-tune) starts at <paramref name="at"/> on the epoch axis: a dashed line and a "round 2 →"
    /// label, the <paramref name="stack"/>-th stacked down from the top so several never overlap.
    /// </summary>
    public static void MarkRound2(Plotly.Blazor.Layout layout, double at, string colour, int stack = 0)
    {
        layout.Shapes ??= [];
        layout.Annotations ??= [];
        layout.Shapes.Add(new Shape
        {
            Type = Plotly.Blazor.LayoutLib.ShapeLib.TypeEnum.Line,
            XRef = "x",
            YRef = "paper",
            X0 = at,
            X1 = at,
            Y0 = 0,
            Y1 = 1,
            Line = new Plotly.Blazor.LayoutLib.ShapeLib.Line { Color = colour, Width = 1.5m, Dash = "dash" },
        });
        layout.Annotations.Add(new Annotation
        {
            X = at,
            XRef = "x",
            Y = 1 - 0.07 * stack,
            YRef = "paper",
            YAnchor = Plotly.Blazor.LayoutLib.AnnotationLib.YAnchorEnum.Top,
            XAnchor = Plotly.Blazor.LayoutLib.AnnotationLib.XAnchorEnum.Left,
            XShift = 3,
            Text = "round 2 →",
            ShowArrow = false,
            Font = new Plotly.Blazor.LayoutLib.AnnotationLib.Font { Color = colour, Size = 11m },
        });
    }

    public static Scatter Line(string name, IList<object> x, IEnumerable<object> y) => new()
    {
        Name = name,
        Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines | Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers,
        X = x,
        Y = y.ToList(),
    };
}
