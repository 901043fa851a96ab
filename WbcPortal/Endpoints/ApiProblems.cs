using Microsoft.AspNetCore.Mvc;

namespace WbcPortal.Endpoints;

/// <summary>One kind of refusal of the API: its stable machine-readable <c>code</c>, its HTTP status and its title.</summary>
public sealed record ApiProblemKind(string Code, int Status, string Title, string Meaning)
{
    /// <summary>The problem document's <c>type</c>: a URN that names the code (it is not a page to fetch).</summary>
    public string Type => ApiProblems.TypePrefix + Code;
}

/// <summary>
/// The problem documents (RFC 9457) the portal answers with, each with a stable <c>code</c> and the request's
/// <c>traceId</c> (the log names the same id). The OpenAPI document lists, per route and status, the codes it may send.
/// </summary>
public static class ApiProblems
{
    public const string TypePrefix = "urn:wbcportal:problem:";

    public static readonly ApiProblemKind UnsupportedMediaType = new("unsupported-media-type", 415, "Not a multipart upload", "The body is not multipart/form-data.");
    public static readonly ApiProblemKind UnknownFormField = new("unknown-form-field", 400, "Unknown form field", "A form part is named other than `images`, or an `images` part is not a file.");
    public static readonly ApiProblemKind NoImage = new("no-image", 400, "No image", "The form holds no `images` file part.");
    public static readonly ApiProblemKind UnreadableForm = new("unreadable-form", 400, "Unreadable form", "The multipart body cannot be read (a bad boundary, or a part without Content-Disposition).");
    public static readonly ApiProblemKind RequestTooLarge = new("request-too-large", 413, "Request too large", "The body is larger than the request limit.");
    public static readonly ApiProblemKind TooManyImages = new("too-many-images", 413, "Too many images", "More images than one request may carry.");
    public static readonly ApiProblemKind ModelNotFound = new("model-not-found", 404, "No such model", "No model has this id (or, for `?model=`, this id or name).");
    public static readonly ApiProblemKind ModelFileMissing = new("model-file-missing", 409, "Model file missing", "The model is registered but its ONNX file is missing from the data folder.");
    public static readonly ApiProblemKind NoActiveModel = new("no-active-model", 409, "No active model", "No `model` was asked for and no model is active.");
    public static readonly ApiProblemKind Busy = new("decoding-busy", 503, "Busy decoding images", "The portal's image decoding budget had no room in time; retry after Retry-After seconds.");
    public static readonly ApiProblemKind OneImageOnly = new("one-image-only", 400, "One image", "This route takes exactly one `images` file part.");
    public static readonly ApiProblemKind UnreadableImage = new("unreadable-image", 400, "Not an image the portal reads", "The image is not a JPEG or PNG the portal decodes within its limits.");
    public static readonly ApiProblemKind EndpointNotFound = new("endpoint-not-found", 404, "No such endpoint", "The path is not an endpoint of this API.");
    public static readonly ApiProblemKind MethodNotAllowed = new("method-not-allowed", 405, "Method not allowed", "The path exists but not with this method; Allow lists those it takes.");
    public static readonly ApiProblemKind SignInRequired = new("sign-in-required", 401, "Sign in first", "No valid API token (Authorization: Bearer TOKEN) or session.");
    public static readonly ApiProblemKind RoleForbidden = new("role-forbidden", 403, "Not allowed", "The token's role may not do this (classifying needs Reviewer or Admin).");
    public static readonly ApiProblemKind CrossSiteRefused = new("cross-site-refused", 403, "Cross-site request refused", "Another site's page sent this request.");
    public static readonly ApiProblemKind RateLimited = new("rate-limited", 429, "Too many requests", "This client sent more requests than the portal takes; retry after Retry-After seconds.");
    public static readonly ApiProblemKind BadRequest = new("bad-request", 400, "Bad request", "The request cannot be read.");
    public static readonly ApiProblemKind Unprocessable = new("unprocessable", 422, "Cannot be done", "The request is well formed but what it asks cannot be done (a page's image view or explanation).");
    public static readonly ApiProblemKind InternalError = new("internal-error", 500, "The server could not answer this request", "An unexpected failure; the portal's log has it under the traceId.");

    public static readonly IReadOnlyList<ApiProblemKind> All =
    [
        UnsupportedMediaType, UnknownFormField, NoImage, UnreadableForm, RequestTooLarge, TooManyImages, ModelNotFound, ModelFileMissing, NoActiveModel,
        OneImageOnly, UnreadableImage, Busy, EndpointNotFound, MethodNotAllowed, SignInRequired, RoleForbidden, CrossSiteRefused, RateLimited, BadRequest, Unprocessable, InternalError,
    ];

    /// <summary>The code a problem without one gets from its status alone (the framework's own refusals).</summary>
    public static ApiProblemKind ForStatus(int status) => status switch
    {
        401 => SignInRequired,
        403 => RoleForbidden,
        404 => EndpointNotFound,
        405 => MethodNotAllowed,
        413 => RequestTooLarge,
        415 => UnsupportedMediaType,
        422 => Unprocessable,
        429 => RateLimited,
        503 => Busy,
        >= 500 => InternalError,
        _ => BadRequest,
    };

    /// <summary>A problem result of this kind, with what went wrong in one sentence.</summary>
    public static IResult Result(ApiProblemKind kind, string detail) => Results.Problem(Details(kind, detail));

    public static ProblemDetails Details(ApiProblemKind kind, string? detail) => new()
    {
        Status = kind.Status,
        Title = kind.Title,
        Detail = detail,
        Type = kind.Type,
        Extensions = { ["code"] = kind.Code },
    };

    /// <summary>Writes a problem document whatever the request accepts (<see cref="AnyAcceptProblemWriter"/> takes what the default writer declines).</summary>
    public static Task WriteAsync(HttpContext http, ProblemDetails problem)
    {
        http.Response.StatusCode = problem.Status ?? http.Response.StatusCode;
        return http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem }).AsTask();
    }

    /// <summary>
    /// Every problem the portal writes gets a <c>code</c> (from its status when the writer gave none), a <c>type</c> that
    /// names it, and the request's <c>traceId</c>.
    /// </summary>
    public static void Complete(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        int status = problem.Status ?? context.HttpContext.Response.StatusCode;
        problem.Status = status;
        if (!problem.Extensions.TryGetValue("code", out var code) || code is not string)
        {
            var kind = ForStatus(status);
            problem.Extensions["code"] = kind.Code;
            problem.Type = kind.Type;
            problem.Title ??= kind.Title;
        }
        else if (problem.Type is null || !problem.Type.StartsWith(TypePrefix, StringComparison.Ordinal))
        {
            problem.Type = TypePrefix + (string)code;
        }
        problem.Extensions["traceId"] = System.Diagnostics.Activity.Current?.Id ?? context.HttpContext.TraceIdentifier;
    }
}

/// <summary>
/// The problem writer after the framework's: that one declines a request whose Accept header names no JSON (a browser's
/// text/html, an image tag's image/*), and the problem would then be written without <see cref="ApiProblems.Complete"/>
/// (no code, no trace id). This one writes it as JSON all the same, completed like every other.
/// </summary>
public sealed class AnyAcceptProblemWriter(Microsoft.Extensions.Options.IOptions<ProblemDetailsOptions> options) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        options.Value.CustomizeProblemDetails?.Invoke(context);
        var http = context.HttpContext;
        return new ValueTask(http.Response.WriteAsJsonAsync(context.ProblemDetails, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", http.RequestAborted));
    }
}
