using System.Globalization;
using Microsoft.AspNetCore.Components;

namespace WbcPortal.Components.Pages.Runs.Report;

/// <summary>A cell of the confusion matrix: images of class <paramref name="Actual"/> predicted as <paramref name="Predicted"/>.</summary>
public readonly record struct ConfusionCell(int Actual, int Predicted);

/// <summary>
/// The confusion matrix as an accessible HTML table (rows actual, columns predicted): counts or row percentages,
/// each cell shaded by its share of the row, the diagonal in its own colour with a border, every cell a button that
/// raises <see cref="CellSelected"/>.
/// </summary>
public partial class ConfusionMatrix
{
    [Parameter, EditorRequired] public required IReadOnlyList<string> Labels { get; set; }

    /// <summary>Rows actual, columns predicted.</summary>
    [Parameter, EditorRequired] public required int[][] Confusion { get; set; }

    [Parameter] public bool Normalised { get; set; }
    [Parameter] public EventCallback<bool> NormalisedChanged { get; set; }
    [Parameter] public ConfusionCell? Selected { get; set; }
    [Parameter] public EventCallback<ConfusionCell> CellSelected { get; set; }

    public sealed record CellView(int Count, double Share, string Text, string Description, string CssClass, string Style, bool Selected);

    private int RowTotal(int row) => Confusion[row].Sum();

    public CellView Cell(int row, int col)
    {
        int count = Confusion[row][col], total = RowTotal(row);
        double share = total == 0 ? 0 : (double)count / total;
        bool diagonal = row == col, selected = Selected == new ConfusionCell(row, col);
        string text = Normalised ? (total == 0 ? "–" : (100 * share).ToString("0.0", CultureInfo.InvariantCulture) + "%") : count.ToString("N0", CultureInfo.InvariantCulture);
        string description = string.Create(CultureInfo.InvariantCulture,
            $"{Labels[row]} predicted as {Labels[col]}: {count} of {total} images ({100 * share:0.0}%){(diagonal ? ", correct" : "")}");
        // Shade by the row share: green on the diagonal (right), red off it (mistakes); light text on dark cells.
        string rgb = diagonal ? "46,125,50" : "198,40,40";
        double alpha = count == 0 ? 0 : 0.08 + 0.8 * share;
        string style = string.Create(CultureInfo.InvariantCulture, $"background-color:rgba({rgb},{alpha:0.###});{(alpha > 0.5 ? "color:#fff;" : "")}");
        string css = "wbc-cm-cell" + (diagonal ? " wbc-cm-diagonal" : "") + (selected ? " wbc-cm-selected" : "");
        return new CellView(count, share, text, description, css, style, selected);
    }

    private Task SetNormalisedAsync(bool value)
    {
        Normalised = value;
        return NormalisedChanged.InvokeAsync(value);
    }

    private Task SelectAsync(int row, int col) => CellSelected.InvokeAsync(new ConfusionCell(row, col));
}
