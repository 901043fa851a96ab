using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using WbcPortal.Engine.Imaging;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Options;
using WbcPortal.Security;
using WbcPortal.Services.Classify;
using WbcPortal.Services.Smears;

namespace WbcPortal.Endpoints;

/// <summary>
/// One image of <c>POST /api/v1/predict</c>: an answer (<see cref="ApiPrediction"/>) or why there is none
/// (<see cref="ApiPredictionError"/>); the document declares them as two schemas, one of which each item matches.
/// </summary>
[JsonDerivedType(typeof(ApiPrediction))]
[JsonDerivedType(typeof(ApiPredictionError))]
public abstract record ApiPredictionItem([property: JsonPropertyOrder(-1)] string File);

/// <summary>One image's answer (the <c>predict</c> verb's JSON, CLI.md).</summary>
/// <param name="Label">The class, or "Unidentified" under the model's reject threshold.</param>
/// <param name="Guess">Only when unidentified: the most probable class.</param>
public sealed record ApiPrediction(string File, string Label, double Confidence, IReadOnlyDictionary<string, double> Probabilities, string? Guess = null) : ApiPredictionItem(File);

/// <summary>An image that has no answer, and why (the other images of the request still have theirs).</summary>
public sealed record ApiPredictionError(string File, string Error) : ApiPredictionItem(File);

/// <summary>The model a prediction ran on (<c>id</c> absent for an ONNX file given to the CLI, <c>run</c> for a model imported from elsewhere).</summary>
public sealed record ApiModelRef(int? Id, string Name, int? Run, double RejectThreshold, double Temperature, IReadOnlyList<string> Labels);

/// <summary>The answer of <c>POST /api/v1/predict</c>: <c>counts</c> counts the answers by label, Unidentified included.</summary>
public sealed record ApiPredictResponse(ApiModelRef Model, IReadOnlyList<ApiPredictionItem> Predictions, IReadOnlyDictionary<string, int> Counts);

/// <summary>One white cell of a smear: box in the image's pixels [xmin, ymin, xmax, ymax].</summary>
public sealed record ApiSmearCell(int[] Box, string Label, double Confidence, string? Guess, bool Edge, IReadOnlyDictionary<string, double> Probabilities);

/// <summary>One smear of <c>POST /api/v1/smears</c>: its cells (<see cref="ApiSmear"/>) or why it could not be read (<see cref="ApiSmearError"/>).</summary>
[JsonDerivedType(typeof(ApiSmear))]
[JsonDerivedType(typeof(ApiSmearError))]
public abstract record ApiSmearItem([property: JsonPropertyOrder(-1)] string File);

/// <summary>One smear's cells (an empty list: no white cell found).</summary>
public sealed record ApiSmear(string File, int Width, int Height, bool SingleCell, IReadOnlyList<ApiSmearCell> Cells) : ApiSmearItem(File);

/// <summary>A smear that could not be read, and why.</summary>
public sealed record ApiSmearError(string File, string Error) : ApiSmearItem(File);

/// <summary>One class of the differential: count, share of identified cells in percent and its exact 95 % interval.</summary>
public sealed record ApiClassCount(string Label, int Count, double Percent, double Low, double High);

/// <summary>The differential count of all the smears of a request.</summary>
public sealed record ApiDifferential(int Cells, int Identified, int Unidentified, int EdgeCells, IReadOnlyList<ApiClassCount> Classes);

/// <summary>The answer of <c>POST /api/v1/smears</c>.</summary>
public sealed record ApiSmearResponse(ApiModelRef Model, IReadOnlyList<ApiSmearItem> Images, IReadOnlyDictionary<string, int> Counts, ApiDifferential Differential);

/// <summary>A problem document (RFC 9457) as the API sends it: <c>code</c> names the kind of refusal, <c>traceId</c> the request in the portal's log.</summary>
/// <param name="Type">A URN naming the code (urn:wbcportal:problem:CODE).</param>
/// <param name="Code">Stable, machine-readable: the kinds are listed per route and status.</param>
public sealed record ApiProblem(string Type, string Title, int Status, string Code, string TraceId, string? Detail = null, string? Instance = null);

/// <summary>
/// The versioned API for lab systems: classify images with the active (or a named) model, and list, describe and
/// download the models. Every refusal is an RFC 9457 problem document with a stable <c>code</c> (<see cref="ApiProblems"/>).
/// </summary>
public static class ApiV1Endpoints
{
    public const string Prefix = "/api/v1";

    /// <summary>The one multipart field name the upload routes take: each image is an <c>images</c> file part.</summary>
    public const string ImagesField = "images";

    public static IEndpointRouteBuilder MapApiV1(this IEndpointRouteBuilder app)
    {
        // Not a browser form: antiforgery is off, and Security.CrossSiteGuard refuses what another site's page sends instead.
        var api = app.MapGroup(Prefix).WithTags("v1").DisableAntiforgery().WithHardenedApi();
        ApiProblemKind[] upload = [ApiProblems.UnsupportedMediaType, ApiProblems.UnknownFormField, ApiProblems.NoImage, ApiProblems.UnreadableForm,
            ApiProblems.RequestTooLarge, ApiProblems.TooManyImages, ApiProblems.ModelNotFound, ApiProblems.ModelFileMissing, ApiProblems.NoActiveModel,
            ApiProblems.Busy, ApiProblems.RoleForbidden, ApiProblems.CrossSiteRefused];

        api.MapPost("/predict", PredictAsync)
            .WithName("Predict")
            .WithSummary("Classify one or many cell images")
            .WithDescription("multipart/form-data with one `images` file part per image (JPEG or PNG). Each image gets its class, calibrated confidence and probabilities, or \"Unidentified\" under the model's reject threshold (with its `guess`); an image that cannot be read gets an `error` of its own and the others are still answered. `counts` counts the answers by label. Query `model` picks a model by id or name (default: the active model). `Accept: text/csv` answers with the Classify page's CSV instead.")
            // The multipart body is described by ApiV1OpenApi (an Accepts filter would turn other content types into a 404).
            .Produces<ApiPredictResponse>(StatusCodes.Status200OK, "application/json")
            .WithProblems(upload)
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapPost("/window", WindowAsync)
            .WithName("Window")
            .WithSummary("The window the model sees for one image, as a PNG")
            .WithDescription("multipart/form-data with one `images` file part (JPEG or PNG). The answer is the model's window (README \"The model format\"): input_width × input_height RGB pixels cut by the window rule of the model's wbc.crop.* metadata; its pixels are what a self-contained model's `window` input takes ([1, H, W, 3] uint8). Query `model` picks a model by id or name (default: the active model).")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .WithProblems([.. upload, ApiProblems.OneImageOnly, ApiProblems.UnreadableImage])
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapPost("/smears", SmearsAsync)
            .WithName("Smears")
            .WithSummary("Find and classify every white cell of one or many smear images: boxes and the differential count")
            .WithDescription("multipart/form-data with one `images` file part per smear image (JPEG or PNG). Each smear gets its white cells: a box in the image's own pixels [xmin, ymin, xmax, ymax], the class (or \"Unidentified\" under the model's reject threshold, with its guess), confidence, probabilities, and whether the cell is cut by the image border. `counts` counts every cell by label; `differential` gives each class's share of the identified cells with its exact 95 % interval. Query `model` picks a model by id or name (default: the active model).")
            .Produces<ApiSmearResponse>(StatusCodes.Status200OK, "application/json")
            .WithProblems(upload)
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapGet("/models", async (ModelCatalog catalog, CancellationToken ct) => Results.Ok(await catalog.ListAsync(ct)))
            .WithName("ListModels").WithSummary("Every registered model's card, the active one first")
            .Produces<IReadOnlyList<ModelCard>>(StatusCodes.Status200OK, "application/json").WithProblems();

        api.MapGet("/models/{id:int}", async (int id, ModelCatalog catalog, CancellationToken ct) =>
                await catalog.GetAsync(id, ct) is { } card ? Results.Ok(card) : ApiProblems.Result(ApiProblems.ModelNotFound, $"No model {id}."))
            .WithName("GetModel").WithSummary("One model's card")
            .Produces<ModelCard>(StatusCodes.Status200OK, "application/json").WithProblems(ApiProblems.ModelNotFound);

        api.MapGet("/models/{id:int}/onnx", async (int id, ModelCatalog catalog, ClassifierOnnxExporter exporter, HttpContext http, CancellationToken ct) =>
            {
                if (await catalog.GetAsync(id, ct) is null) return ApiProblems.Result(ApiProblems.ModelNotFound, $"No model {id}.");
                if (await catalog.OnnxFileAsync(id, ct) is not { } file) return ApiProblems.Result(ApiProblems.ModelFileMissing, $"Model {id}'s ONNX file is missing from the data folder.");
                http.Response.Headers.XContentTypeOptions = "nosniff";
                // An older export (format 1) leaves self-contained, made from the same weights; the stored file stays as it is.
                var upgraded = await Task.Run(() => exporter.SelfContainedCopy(file.Path), ct);
                return upgraded is null
                    ? Results.File(file.Path, "application/octet-stream", file.FileName)
                    : Results.File(upgraded, "application/octet-stream", file.FileName);
            })
            .WithName("DownloadModel").WithSummary("The model's self-contained ONNX file (README \"The model format\": input 'window' uint8 [N, H, W, 3] RGB, output 'probs' the portal's answer; its metadata carries labels, input size, the window rule, temperature and reject threshold)")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream").WithProblems(ApiProblems.ModelNotFound, ApiProblems.ModelFileMissing);
        return app;
    }

    /// <summary>
    /// The refusals of an API route: each kind's status gets a problem response in the document (ApiV1OpenApi lists the
    /// kinds' codes under it); every route may also answer 401 (no token) and 429 (rate limit).
    /// </summary>
    public static RouteHandlerBuilder WithProblems(this RouteHandlerBuilder builder, params ApiProblemKind[] kinds)
    {
        ApiProblemKind[] all = [.. kinds, ApiProblems.SignInRequired, ApiProblems.RateLimited];
        builder.WithMetadata(new ApiProblemsMetadata(all));
        foreach (int status in all.Select(k => k.Status).Distinct()) builder.Produces<ApiProblem>(status, "application/problem+json");
        return builder;
    }

    /// <summary>
    /// Under <c>/api/v1</c>: a path that is no endpoint is a 404 problem, and a known path asked with another method a 405
    /// problem (the framework's own 405 sets Allow and writes nothing).
    /// </summary>
    public static IApplicationBuilder UseApiV1Refusals(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (!http.Request.Path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            await next(http);
            return;
        }
        if (http.GetEndpoint() is null)
        {
            // Routing found nothing for this method (a GET may be claimed and then dropped by another matcher policy, so the
            // framework's 405 does not always come): look for the path among the API's routes.
            var allowed = AllowedMethods(http.RequestServices.GetRequiredService<EndpointDataSource>(), http.Request.Path);
            if (allowed.Count > 0)
            {
                http.Response.Headers.Allow = string.Join(", ", allowed);
                await WriteAsync(http, ApiProblems.MethodNotAllowed, $"{http.Request.Path} does not take {http.Request.Method}; it takes {string.Join(", ", allowed)}.");
                return;
            }
            await WriteAsync(http, ApiProblems.EndpointNotFound, $"{http.Request.Path} is not an endpoint of this API; see /openapi/v1.json.");
            return;
        }
        await next(http);
        if (http.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !http.Response.HasStarted)
        {
            // The framework's Allow may name methods of other routes that share the path's shape (HEAD of the static files): name the API's own.
            var allowed = AllowedMethods(http.RequestServices.GetRequiredService<EndpointDataSource>(), http.Request.Path);
            if (allowed.Count > 0) http.Response.Headers.Allow = string.Join(", ", allowed);
            await WriteAsync(http, ApiProblems.MethodNotAllowed, $"{http.Request.Path} does not take {http.Request.Method}; it takes {http.Response.Headers.Allow}.");
        }
    });

    /// <summary>The methods the API's routes take at this path (route constraints checked: <c>/models/x</c> is no model path).</summary>
    internal static IReadOnlyList<string> AllowedMethods(EndpointDataSource endpoints, PathString path)
    {
        var allowed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.Endpoints.OfType<RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<Security.HardenedApiMetadata>() is null || endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>() is not { } methods) continue;
            var values = new RouteValueDictionary();
            var matcher = new Microsoft.AspNetCore.Routing.Template.TemplateMatcher(new Microsoft.AspNetCore.Routing.Template.RouteTemplate(endpoint.RoutePattern), values);
            if (!matcher.TryMatch(path, values)) continue;
            bool fits = endpoint.RoutePattern.ParameterPolicies.All(p => p.Value.All(policy => policy.Content != "int"
                || int.TryParse(values[p.Key]?.ToString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _)));
            if (fits) allowed.UnionWith(methods.HttpMethods);
        }
        return [.. allowed];
    }

    private static Task WriteAsync(HttpContext http, ApiProblemKind kind, string detail) => ApiProblems.WriteAsync(http, ApiProblems.Details(kind, detail));

    /// <summary>The process's decode budget had no room in time: 503 with Retry-After (nothing of the request was kept).</summary>
    public static IResult Busy(HttpContext http, DecodeBudgetBusyException ex)
    {
        http.Response.Headers.RetryAfter = ((int)ex.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return ApiProblems.Result(ApiProblems.Busy, ex.Message);
    }

    /// <summary>A refusal of the request's form, found while reading it.</summary>
    private sealed class FormRefusedException(ApiProblemKind kind, string message) : Exception(message)
    {
        public ApiProblemKind Kind { get; } = kind;
    }

    /// <summary>The images of a multipart request and the model asked for (default: the active one), or the problem that refuses the request.</summary>
    private static async Task<(ModelChoice Model, List<PredictionInput> Inputs)?> ReadImagesAsync(HttpContext http, PredictionService predictions, InferenceOptions options,
        string? model, Action<IResult> refuse, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            refuse(ApiProblems.Result(ApiProblems.UnsupportedMediaType,
                $"The body is {(string.IsNullOrEmpty(http.Request.ContentType) ? "of no stated type" : http.Request.ContentType)}; send the images as multipart/form-data, one `{ImagesField}` file part per image."));
            return null;
        }
        if (http.Request.ContentLength is long length && length > options.MaxRequestBytes)
        {
            refuse(ApiProblems.Result(ApiProblems.RequestTooLarge, $"The request is {length:N0} bytes; at most {options.MaxRequestBytes:N0} are taken."));
            return null;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = options.MaxRequestBytes;

        List<PredictionInput> inputs;
        try
        {
            inputs = await ReadImagePartsAsync(http.Request, type, options, ct);
        }
        catch (FormRefusedException ex)
        {
            refuse(ApiProblems.Result(ex.Kind, ex.Message));
            return null;
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException or IOException)
        {
            bool tooLarge = ex is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } || ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase);
            refuse(tooLarge
                ? ApiProblems.Result(ApiProblems.RequestTooLarge, $"At most {options.MaxRequestBytes:N0} bytes and {options.MaxImagesPerRequest} images per request.")
                : ApiProblems.Result(ApiProblems.UnreadableForm, ex.Message));
            return null;
        }
        if (inputs.Count == 0) { refuse(ApiProblems.Result(ApiProblems.NoImage, $"The form holds no `{ImagesField}` file part: send at least one image.")); return null; }

        ModelChoice choice;
        try
        {
            choice = model is { Length: > 0 }
                ? await predictions.ResolveAsync(model, allowFile: false, ct)
                : await predictions.ActiveAsync(ct) ?? throw new InvalidOperationException("No model is active: train a run or make a model active on the Models page.");
        }
        catch (ArgumentException ex) { refuse(ApiProblems.Result(ApiProblems.ModelNotFound, ex.Message)); return null; }
        catch (InvalidOperationException ex) { refuse(ApiProblems.Result(ApiProblems.NoActiveModel, ex.Message)); return null; }

        return (choice, inputs);
    }

    /// <summary>
    /// The <c>images</c> file parts of a multipart body, read in memory as they arrive, within the request's byte limit
    /// (<c>Inference:MaxRequestBytes</c>, which Kestrel enforces too) and image count. A part of another name, or an
    /// <c>images</c> part that is not a file, refuses the request (a misspelt field would otherwise pass unseen). The
    /// framework's form reader would buffer every part over 64 KB to an <c>ASPNETCORE_*.tmp</c> file in the temp folder,
    /// and an upload (or a portal) killed mid-way leaves those behind; here nothing of a request touches the disk.
    /// </summary>
    private static async Task<List<PredictionInput>> ReadImagePartsAsync(HttpRequest request, MediaTypeHeaderValue type, InferenceOptions options, CancellationToken ct)
    {
        string boundary = HeaderUtilities.RemoveQuotes(type.Boundary).ToString();
        if (boundary.Length is 0 or > 70) throw new InvalidDataException("The multipart boundary is missing or longer than 70 characters.");
        var reader = new Microsoft.AspNetCore.WebUtilities.MultipartReader(boundary, request.Body) { BodyLengthLimit = options.MaxRequestBytes };
        var inputs = new List<PredictionInput>();
        long total = 0;
        var chunk = new byte[81920];
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
            {
                throw new InvalidDataException("A form part has no readable Content-Disposition header.");
            }
            string name = HeaderUtilities.RemoveQuotes(disposition.Name).ToString();
            if (name != ImagesField)
            {
                throw new FormRefusedException(ApiProblems.UnknownFormField, $"A form part is named \"{Shorten(name)}\": this route takes only `{ImagesField}` file parts, one per image.");
            }
            if (!disposition.IsFileDisposition())
            {
                throw new FormRefusedException(ApiProblems.UnknownFormField, $"An `{ImagesField}` part is not a file (it has no filename): send each image as a file part.");
            }
            if (inputs.Count == options.MaxImagesPerRequest)
            {
                throw new FormRefusedException(ApiProblems.TooManyImages, $"More than {options.MaxImagesPerRequest} images in one request; at most {options.MaxImagesPerRequest}.");
            }
            using var memory = new MemoryStream();
            int read;
            while ((read = await section.Body.ReadAsync(chunk, ct)) > 0)
            {
                total += read;
                if (total > options.MaxRequestBytes) throw new InvalidDataException($"Request body length limit {options.MaxRequestBytes:N0} exceeded.");
                memory.Write(chunk, 0, read);
            }
            var file = new Microsoft.AspNetCore.WebUtilities.FileMultipartSection(section, disposition);
            inputs.Add(new PredictionInput(string.IsNullOrEmpty(file.FileName) ? file.Name : file.FileName, memory.ToArray()));
        }
        return inputs;
    }

    private static string Shorten(string name) => name.Length <= 40 ? name : name[..40] + "…";

    private static async Task<IResult> PredictAsync(HttpContext http, PredictionService predictions, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        IResult? refusal = null;
        if (await ReadImagesAsync(http, predictions, options, model, r => refusal = r, ct) is not { } request) return refusal!;
        PredictionBatch batch;
        try
        {
            batch = await predictions.PredictAsync(request.Model, request.Inputs, null, ct, DecodeWait.Bounded);
        }
        catch (FileNotFoundException) { return ApiProblems.Result(ApiProblems.ModelFileMissing, "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        if (WantsCsv(http.Request))
        {
            http.Response.Headers.CacheControl = "no-store";
            return Results.Text(ClassifyJobs.Csv(batch, []), Engine.Evaluation.Reports.ReportCsv.ContentType);
        }
        return Results.Ok(ToResponse(batch));
    }

    private static async Task<IResult> WindowAsync(HttpContext http, PredictionService predictions, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        IResult? refusal = null;
        if (await ReadImagesAsync(http, predictions, options, model, r => refusal = r, ct) is not { } request) return refusal!;
        if (request.Inputs.Count != 1) return ApiProblems.Result(ApiProblems.OneImageOnly, $"Send exactly one image; the request holds {request.Inputs.Count}.");
        try
        {
            return Results.File(await predictions.WindowPngAsync(request.Model, request.Inputs[0], ct, DecodeWait.Bounded), "image/png");
        }
        catch (FileNotFoundException) { return ApiProblems.Result(ApiProblems.ModelFileMissing, "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException or NotSupportedException)
        {
            return ApiProblems.Result(ApiProblems.UnreadableImage, ex.Message);
        }
    }

    /// <summary>CSV when the client asks for it before JSON (<c>Accept: text/csv</c>); JSON otherwise.</summary>
    private static bool WantsCsv(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept is not { Count: > 0 }) return false;
        double Quality(string media) => accept.Where(a => a.MediaType.Equals(media, StringComparison.OrdinalIgnoreCase)).Select(a => a.Quality ?? 1).DefaultIfEmpty(0).Max();
        double csv = Quality("text/csv");
        return csv > 0 && csv > Math.Max(Quality("application/json"), Quality("*/*"));
    }

    private static async Task<IResult> SmearsAsync(HttpContext http, PredictionService predictions, SmearService smears, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        IResult? refusal = null;
        if (await ReadImagesAsync(http, predictions, options, model, r => refusal = r, ct) is not { } request) return refusal!;
        SmearBatch batch;
        try
        {
            batch = await smears.AnalyzeAsync(request.Model, request.Inputs, null, ct, DecodeWait.Bounded);
        }
        catch (FileNotFoundException) { return ApiProblems.Result(ApiProblems.ModelFileMissing, "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        return Results.Ok(ToSmearResponse(batch));
    }

    /// <summary>The JSON of a smear batch (the <c>smear</c> verb's, CLI.md, with the model and the differential).</summary>
    public static ApiSmearResponse ToSmearResponse(SmearBatch batch)
    {
        var count = batch.Count();
        return new ApiSmearResponse(
            new ApiModelRef(batch.Model.ModelId, batch.Model.Name, batch.Model.RunId, batch.RejectThreshold, 0, batch.Labels),
            batch.Images.Select(i => i.Error is { } error
                ? (ApiSmearItem)new ApiSmearError(i.File, error)
                : new ApiSmear(i.File, i.Width, i.Height, i.SingleCellCrop,
                    i.Cells.Select(c => new ApiSmearCell(c.Box, c.Label, c.Confidence, c.Guess, c.Edge,
                        batch.Labels.Select((l, k) => (l, k)).Where(x => x.k < c.Probabilities.Count).ToDictionary(x => x.l, x => c.Probabilities[x.k]))).ToList())).ToList(),
            SmearBatch.CountsJson(count),
            new ApiDifferential(count.Cells, count.Identified, count.Unidentified, count.EdgeCells,
                count.Classes.Select(c => new ApiClassCount(c.Label, c.Count, c.Percent, c.LowPercent, c.HighPercent)).ToList()));
    }

    /// <summary>The JSON of a classified batch: the API's answer and the <c>predict</c> verb's (CLI.md), so both say the same.</summary>
    public static ApiPredictResponse ToResponse(PredictionBatch batch)
    {
        var predictions = batch.Outcomes.Select(o => o.Prediction is { } p
            ? (ApiPredictionItem)new ApiPrediction(o.File, p.Answer(batch.Labels), p.Decision.Confidence,
                batch.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => p.Probabilities[x.i]), p.Decision.Unidentified ? batch.Labels[p.Decision.Predicted] : null)
            : new ApiPredictionError(o.File, o.Error ?? "This image could not be read.")).ToList();
        var counts = predictions.OfType<ApiPrediction>().GroupBy(p => p.Label).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        return new ApiPredictResponse(new ApiModelRef(batch.Model.ModelId, batch.Model.Name, batch.Model.RunId, batch.RejectThreshold, batch.Temperature, batch.Labels), predictions, counts);
    }
}

/// <summary>The kinds of refusal a route may answer with (read by ApiV1OpenApi to list their codes).</summary>
public sealed record ApiProblemsMetadata(IReadOnlyList<ApiProblemKind> Kinds);
