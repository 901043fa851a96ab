using MudBlazor;

namespace WbcPortal.Components.Layout;

/// <summary>An area of the portal: one navigation entry and one page.</summary>
public sealed record PortalArea(string Title, string Href, string Icon, string Summary);

/// <summary>The portal's areas in the order a lab works through them. The navigation, the home page and the tests read this list.</summary>
public static class PortalAreas
{
    public static IReadOnlyList<PortalArea> All { get; } =
    [
        new("Datasets", "datasets", Icons.Material.Filled.PhotoLibrary, "Upload slide images or a zip of class folders, check them, and browse them by class."),
        new("Explore", "explore", Icons.Material.Filled.Insights, "Sample grids, intensity histograms and threshold views of a dataset."),
        new("Training", "training", Icons.Material.Filled.ModelTraining, "Configure a two-round fine-tune on a leak-free split and launch it."),
        new("Runs", "runs", Icons.Material.Filled.Timeline, "Watch runs live, stop or resume them, and read their result dashboards."),
        new("Review", "review", Icons.Material.Filled.RuleFolder, "Review misclassified cells, eosinophil vs neutrophil above all."),
        new("Models", "models", Icons.Material.Filled.Psychology, "The exported models: their cards, which one classifies, and their ONNX files."),
        new("Classify", "classify", Icons.Material.Filled.CenterFocusStrong, "Classify new cell images with the active ONNX model, in the browser or through the API."),
        new("Smears", "smears", Icons.Material.Filled.GridOn, "Find and classify every white cell of a smear, correct the boxes, and sign the differential count."),
        new("Storage", "storage", Icons.Material.Filled.Storage, "What the data folder holds, with sizes: delete datasets, runs, staged uploads and files nothing uses."),
    ];
}
