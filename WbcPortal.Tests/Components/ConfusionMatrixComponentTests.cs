using Bunit;
using WbcPortal.Components.Pages.Runs.Report;

namespace WbcPortal.Tests.Components;

/// <summary>The dashboard's confusion matrix: an accessible table of counts or row percentages whose cells open galleries.</summary>
public class ConfusionMatrixComponentTests : PortalTestContext
{
    private static readonly string[] Labels = ["EOSINOPHIL", "NEUTROPHIL", "<b>&"];
    private static readonly int[][] Confusion = [[3, 1, 0], [1, 2, 1], [0, 0, 2]];

    private IRenderedComponent<ConfusionMatrix> RenderMatrix(Action<ConfusionCell>? selected = null) =>
        Render<ConfusionMatrix>(p => p
            .Add(x => x.Labels, Labels)
            .Add(x => x.Confusion, Confusion)
            .Add(x => x.CellSelected, (ConfusionCell cell) => selected?.Invoke(cell)));

    private static string CellText(IRenderedComponent<ConfusionMatrix> matrix, int actual, int predicted) =>
        matrix.Find($"[data-testid=cm-cell][data-actual='{actual}'][data-predicted='{predicted}']").TextContent.Trim();

    [Fact]
    public void Shows_counts_with_rows_actual_and_columns_predicted()
    {
        var matrix = RenderMatrix();

        Assert.Equal(9, matrix.FindAll("[data-testid=cm-cell]").Count);
        Assert.Equal(["EOSINOPHIL", "NEUTROPHIL", "<b>&"], matrix.FindAll("tbody th[scope=row]").Select(th => th.TextContent));
        Assert.Equal(["EOSINOPHIL", "NEUTROPHIL", "<b>&", "n"], matrix.FindAll("thead th[scope=col]").Skip(1).Select(th => th.TextContent));
        Assert.Equal("3", CellText(matrix, 0, 0));
        Assert.Equal("1", CellText(matrix, 1, 2));
        Assert.Equal("0", CellText(matrix, 2, 0));
        Assert.Equal(["4", "4", "2"], matrix.FindAll("[data-testid=cm-row-total]").Select(td => td.TextContent));
        Assert.Contains("&lt;b&gt;&amp;", matrix.Markup);

        // the diagonal is its own class (border, colour), every cell says what it is, and an empty cell cannot be opened
        Assert.Equal(3, matrix.FindAll("td.wbc-cm-diagonal").Count);
        Assert.Contains("rgba(46,125,50", matrix.Find("td.wbc-cm-diagonal").GetAttribute("style"));
        Assert.Contains("rgba(198,40,40", matrix.Find("[data-actual='1'][data-predicted='0']").ParentElement!.GetAttribute("style"));
        Assert.Equal("NEUTROPHIL predicted as <b>&: 1 of 4 images (25.0%)", matrix.Find("[data-actual='1'][data-predicted='2']").GetAttribute("aria-label"));
        Assert.True(matrix.Find("[data-actual='2'][data-predicted='0']").HasAttribute("disabled"));
        Assert.False(matrix.Find("[data-actual='0'][data-predicted='1']").HasAttribute("disabled"));
    }

    [Fact]
    public void The_toggle_shows_row_percentages_shaded_by_row_share()
    {
        var matrix = RenderMatrix();
        var before = matrix.Find("[data-actual='0'][data-predicted='0']").ParentElement!.GetAttribute("style");

        matrix.Find("input[data-testid=cm-normalise]").Change(true);

        Assert.Equal("75.0%", CellText(matrix, 0, 0));
        Assert.Equal("25.0%", CellText(matrix, 0, 1));
        Assert.Equal("50.0%", CellText(matrix, 1, 1));
        Assert.Equal("100.0%", CellText(matrix, 2, 2));
        Assert.Equal("0.0%", CellText(matrix, 2, 0));
        // shading follows the row share in both views, so it does not change
        Assert.Equal(before, matrix.Find("[data-actual='0'][data-predicted='0']").ParentElement!.GetAttribute("style"));
        Assert.Contains("share of the actual class", matrix.Find("caption").TextContent);

        matrix.Find("input[data-testid=cm-normalise]").Change(false);
        Assert.Equal("3", CellText(matrix, 0, 0));
    }

    [Fact]
    public void Clicking_a_cell_raises_its_actual_and_predicted_class()
    {
        var raised = new List<ConfusionCell>();
        var matrix = RenderMatrix(raised.Add);

        matrix.Find("[data-actual='1'][data-predicted='0']").Click();
        matrix.Find("[data-actual='0'][data-predicted='1']").Click();
        matrix.Find("[data-actual='2'][data-predicted='2']").Click();

        Assert.Equal([new ConfusionCell(1, 0), new ConfusionCell(0, 1), new ConfusionCell(2, 2)], raised);
    }

    [Fact]
    public void The_selected_cell_is_marked_for_eyes_and_screen_readers()
    {
        var matrix = Render<ConfusionMatrix>(p => p
            .Add(x => x.Labels, Labels)
            .Add(x => x.Confusion, Confusion)
            .Add(x => x.Selected, new ConfusionCell(0, 1)));

        var selected = matrix.Find("[data-actual='0'][data-predicted='1']");
        Assert.Equal("true", selected.GetAttribute("aria-pressed"));
        Assert.Contains("wbc-cm-selected", selected.ParentElement!.ClassName);
        Assert.Equal("false", matrix.Find("[data-actual='1'][data-predicted='0']").GetAttribute("aria-pressed"));
    }
}
