using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

/// <summary>The process-wide memory budget of image decoding (every request, page and job together). Section <c>Imaging</c>.</summary>
public sealed class ImagingOptions
{
    public const string Section = "Imaging";

    /// <summary>All decodes in flight together reserve at most this much (each its worst case, from its header); an image whose worst case is larger is refused.</summary>
    [Range(64, 1024 * 1024)]
    public int DecodeBudgetMegabytes { get; set; } = 1024;

    /// <summary>How long a request's decode waits for room before the request is refused with 503 and Retry-After; background jobs wait until there is room.</summary>
    [Range(0, 600)]
    public double RequestWaitSeconds { get; set; } = 30;
}
