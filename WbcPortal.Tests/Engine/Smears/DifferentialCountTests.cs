using WbcPortal.Engine.Smears;
using WbcPortal.Services.Smears;

namespace WbcPortal.Tests.Engine.Smears;

public sealed class DifferentialCountTests
{
    private static readonly string[] Labels = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"];

    [Theory]
    // Exact (Clopper-Pearson) limits, as the binomial tables give them (R: binom.test(k, n)$conf.int).
    [InlineData(10, 100, 0.0490, 0.1762)]
    [InlineData(0, 100, 0.0, 0.0362)]
    [InlineData(100, 100, 0.9638, 1.0)]
    [InlineData(60, 200, 0.2372, 0.3687)]
    [InlineData(1, 4, 0.0063, 0.8059)]
    public void Intervals_are_the_exact_binomial_ones(int k, int n, double low, double high)
    {
        var (l, h) = DifferentialCount.Interval(k, n);
        Assert.Equal(low, l, 3);
        Assert.Equal(high, h, 3);
    }

    [Fact]
    public void Percentages_are_of_identified_cells_with_unidentified_and_edge_cells_counted_apart()
    {
        var answers = new (string, bool)[]
        {
            ("NEUTROPHIL", false), ("NEUTROPHIL", true), ("NEUTROPHIL", false), ("LYMPHOCYTE", false),
            ("Unidentified", false), ("BASOPHIL", true),
        };
        var count = DifferentialCount.Of(Labels, answers);
        Assert.Equal(6, count.Cells);
        Assert.Equal(5, count.Identified);
        Assert.Equal(1, count.Unidentified);
        Assert.Equal(2, count.EdgeCells);
        // The model's classes in its order, then a reviewer's class it does not know.
        Assert.Equal([.. Labels, "BASOPHIL"], count.Classes.Select(c => c.Label));
        var neutrophils = count.Classes.Single(c => c.Label == "NEUTROPHIL");
        Assert.Equal(3, neutrophils.Count);
        Assert.Equal(60.0, neutrophils.Percent, 6);
        Assert.True(neutrophils.LowPercent < 60 && neutrophils.HighPercent > 60);
        Assert.Equal(100.0, count.Classes.Sum(c => c.Percent), 6);
    }

    [Fact]
    public void An_empty_count_has_no_percentages()
    {
        var count = DifferentialCount.Of(Labels, []);
        Assert.Equal(0, count.Cells);
        Assert.All(count.Classes, c => Assert.Equal(0, c.Percent));
    }

    private static SmearImageResult Smear() => new("s.jpg", 640, 480, false, 1, 288,
    [
        new SmearCellResult(0, [100, 100, 200, 200], 150, 150, false, 0.9, "NEUTROPHIL", 0.9, null, [0.05, 0.02, 0.03, 0.9], "NEUTROPHIL"),
        new SmearCellResult(1, [400, 300, 520, 420], 460, 360, false, 0.9, "Unidentified", 0.5, "EOSINOPHIL", [0.5, 0.1, 0.1, 0.3], "Unidentified"),
    ], null);

    private static SmearCorrection C(int seq, int cell, SmearCorrectionKind kind, int[]? box = null, string? label = null, bool undone = false) =>
        new(seq, 0, cell, kind, box, label, "ana", DateTimeOffset.UnixEpoch.AddMinutes(seq), undone ? DateTimeOffset.UnixEpoch.AddHours(1) : null, undone ? "ana" : null);

    [Fact]
    public void Corrections_apply_in_order_and_undone_ones_do_not()
    {
        var smear = Smear();
        var corrections = new[]
        {
            C(1, 1, SmearCorrectionKind.Relabel, label: "EOSINOPHIL"),
            C(2, 0, SmearCorrectionKind.Move, box: [110, 90, 210, 190]),
            C(3, 2, SmearCorrectionKind.Add, box: [600, 400, 700, 500], label: "BASOPHIL"),
            C(4, 0, SmearCorrectionKind.Delete, undone: true),
        };
        var cells = SmearCorrections.Apply(smear, 0, corrections);
        Assert.Equal([0, 1, 2], cells.Select(c => c.Id));
        Assert.Equal("EOSINOPHIL", cells[1].Label);
        Assert.Null(cells[1].Guess);
        Assert.True(cells[1].Corrected);
        Assert.Equal([110, 90, 210, 190], cells[0].Box);
        // The added box is kept inside the smear, and touching its border makes it an edge cell.
        Assert.Equal([600, 400, 640, 480], cells[2].Box);
        Assert.True(cells[2].Edge);
        Assert.Null(cells[2].ModelLabel);
        var count = SmearCorrections.Count(["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"], [cells]);
        Assert.Equal(3, count.Identified);
        Assert.Equal(0, count.Unidentified);
        Assert.Equal(1, count.Classes.Single(c => c.Label == "BASOPHIL").Count);

        var withDelete = SmearCorrections.Apply(smear, 0, corrections.Select(c => c with { UndoneAt = null }));
        Assert.Equal([1, 2], withDelete.Select(c => c.Id));
    }

    [Fact]
    public void A_box_outside_the_smear_is_refused_with_a_reason()
    {
        var ex = Assert.Throws<ArgumentException>(() => SmearCorrections.Checked([700, 500, 800, 600], Smear()));
        Assert.Contains("at least 4 pixels", ex.Message);
    }
}
