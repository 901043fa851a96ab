namespace WbcPortal.Storage.Entities;

/// <summary>An exported ONNX classifier the portal can classify with. At most one is active.</summary>
public sealed class RegisteredModel
{
    public int Id { get; set; }
    public required string Name { get; set; }
    /// <summary>Path of the .onnx file, relative to the data folder.</summary>
    public required string OnnxPath { get; set; }
    /// <summary>Class labels in output order, comma-separated.</summary>
    public required string Labels { get; set; }
    public int InputHeight { get; set; }
    public int InputWidth { get; set; }
    public bool IsActive { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>The cross-validation whose fold models this model averages (no run made it).</summary>
    public int? CrossValidationId { get; set; }
    /// <summary>For a model no run made: its evaluation report (JSON) on the held-out part it was judged on, and where that was.</summary>
    public string? ReportJson { get; set; }
    public string? ReportSource { get; set; }
}
