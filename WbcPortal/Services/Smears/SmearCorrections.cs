using WbcPortal.Engine.Smears;

namespace WbcPortal.Services.Smears;

/// <summary>What a reviewer did to a cell.</summary>
public enum SmearCorrectionKind { Relabel, Move, Add, Delete }

/// <summary>
/// One reviewer's change to one cell of one smear, with who and when; an undone change stays on record (<see cref="UndoneAt"/>).
/// <paramref name="Box"/> for Move and Add, <paramref name="Label"/> for Relabel and Add.
/// </summary>
public sealed record SmearCorrection(int Sequence, int Image, int Cell, SmearCorrectionKind Kind, int[]? Box, string? Label, string Reviewer, DateTimeOffset At,
    DateTimeOffset? UndoneAt = null, string? UndoneBy = null);

/// <summary>
/// The cells in force: the model's, with every change not undone applied in order. A pure function of the stored answers and
/// the stored corrections, so the page, the report and the dataset made from them read the same cells.
/// </summary>
public static class SmearCorrections
{
    public static IReadOnlyList<SmearCellResult> Apply(SmearImageResult image, int imageIndex, IEnumerable<SmearCorrection> corrections)
    {
        var cells = image.Cells.ToDictionary(c => c.Id);
        var order = image.Cells.Select(c => c.Id).ToList();
        foreach (var c in corrections.Where(c => c.Image == imageIndex && c.UndoneAt is null).OrderBy(c => c.Sequence))
        {
            switch (c.Kind)
            {
                case SmearCorrectionKind.Add when c.Box is { Length: 4 } && c.Label is not null && !cells.ContainsKey(c.Cell):
                    var box = Clamp(c.Box, image);
                    cells[c.Cell] = new SmearCellResult(c.Cell, box, (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0, Touches(box, image), 1, c.Label, 1, null, [], null, true);
                    order.Add(c.Cell);
                    break;
                case SmearCorrectionKind.Delete when cells.ContainsKey(c.Cell):
                    cells.Remove(c.Cell);
                    order.Remove(c.Cell);
                    break;
                case SmearCorrectionKind.Relabel when c.Label is not null && cells.TryGetValue(c.Cell, out var cell):
                    cells[c.Cell] = cell with { Label = c.Label, Guess = null, Corrected = true };
                    break;
                case SmearCorrectionKind.Move when c.Box is { Length: 4 } && cells.TryGetValue(c.Cell, out var moved):
                    var b = Clamp(c.Box, image);
                    cells[c.Cell] = moved with { Box = b, CenterX = (b[0] + b[2]) / 2.0, CenterY = (b[1] + b[3]) / 2.0, Edge = Touches(b, image), Corrected = true };
                    break;
            }
        }
        return order.Select(id => cells[id]).ToList();
    }

    /// <summary>The differential count of a batch's cells in force (every smear, corrections applied).</summary>
    public static DifferentialCount Count(IReadOnlyList<string> labels, IReadOnlyList<IReadOnlyList<SmearCellResult>> cellsPerImage) =>
        DifferentialCount.Of(labels, cellsPerImage.SelectMany(cells => cells.Select(c => (c.Label, c.Edge))));

    /// <summary>The next free cell id of a smear (for a cell a reviewer adds).</summary>
    public static int NextCellId(SmearImageResult image, IEnumerable<SmearCorrection> corrections, int imageIndex) =>
        image.Cells.Select(c => c.Id).Concat(corrections.Where(c => c.Image == imageIndex && c.Kind == SmearCorrectionKind.Add).Select(c => c.Cell)).DefaultIfEmpty(-1).Max() + 1;

    /// <summary>A box ordered and kept inside the smear; <see cref="ArgumentException"/> when less than 4 pixels each way remain.</summary>
    public static int[] Checked(int[] box, SmearImageResult image)
    {
        if (box is not { Length: 4 }) throw new ArgumentException("A box is four numbers: xmin, ymin, xmax, ymax.");
        var b = Clamp(box, image);
        if (b[2] - b[0] < 4 || b[3] - b[1] < 4) throw new ArgumentException("A box must be at least 4 pixels each way inside the smear.");
        return b;
    }

    private static int[] Clamp(int[] box, SmearImageResult image)
    {
        int x0 = Math.Clamp(Math.Min(box[0], box[2]), 0, image.Width), x1 = Math.Clamp(Math.Max(box[0], box[2]), 0, image.Width);
        int y0 = Math.Clamp(Math.Min(box[1], box[3]), 0, image.Height), y1 = Math.Clamp(Math.Max(box[1], box[3]), 0, image.Height);
        return [x0, y0, x1, y1];
    }

    private static bool Touches(int[] b, SmearImageResult image) => b[0] <= 2 || b[1] <= 2 || b[2] >= image.Width - 2 || b[3] >= image.Height - 2;
}
