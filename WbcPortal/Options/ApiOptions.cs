using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

/// <summary>The public API's own settings. Section <c>Api</c>.</summary>
public sealed class ApiOptions : IValidatableObject
{
    public const string Section = "Api";

    /// <summary>
    /// The address clients reach the portal at (e.g. <c>https://wbc.lab.example</c>), written as the OpenAPI document's
    /// server. Empty (the default): the server is "/", the origin the document was fetched from; never the request's Host header.
    /// </summary>
    public string PublicBaseUrl { get; set; } = "";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (PublicBaseUrl.Length > 0 && (!Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment)))
        {
            yield return new ValidationResult($"Api:PublicBaseUrl must be an absolute http or https address without query or fragment; it is \"{PublicBaseUrl}\".", [nameof(PublicBaseUrl)]);
        }
    }
}
