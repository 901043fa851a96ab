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

/// <summary>One image's answer from <c>POST /api/v1/predict</c> (the <c>predict</c> verb's JSON, CLI.md).</summary>
/// <param name="Label">The class, or "Unidentified" under the model's reject threshold.</param>
/// <param name="Guess">When unidentified: the most probable class.</param>
/// <param name="Error">Why this image has no answer (the others of the request still do).</param>
public sealed record ApiPrediction(string File, string? Label, double? Confidence, IReadOnlyDictionary<string, double>? Probabilities, string? Guess, string? Error);

/// <summary>The model a prediction ran on.</summary>
public sealed record ApiModelRef(int? Id, string Name, int? Run, double RejectThreshold, double Temperature, IReadOnlyList<string> Labels);

/// <summary>The answer of <c>POST /api/v1/predict</c>.</summary>
public sealed record ApiPredictResponse(ApiModelRef Model, IReadOnlyList<ApiPrediction> Predictions, IReadOnlyDictionary<string, int> Counts);

/// <summary>One white cell of a smear: box in the image's pixels [xmin, ymin, xmax, ymax].</summary>
public sealed record ApiSmearCell(int[] Box, string Label, double Confidence, string? Guess, bool Edge, IReadOnlyDictionary<string, double> Probabilities);

/// <summary>One smear's cells (an empty list: no white cell found), or why it could not be read.</summary>
public sealed record ApiSmear(string File, int? Width, int? Height, bool SingleCell, IReadOnlyList<ApiSmearCell>? Cells, string? Error);

/// <summary>One class of the differential: count, share of identified cells in percent and its exact 95 % interval.</summary>
public sealed record ApiClassCount(string Label, int Count, double Percent, double Low, double High);

/// <summary>The differential count of all the smears of a request.</summary>
public sealed record ApiDifferential(int Cells, int Identified, int Unidentified, int EdgeCells, IReadOnlyList<ApiClassCount> Classes);

/// <summary>The answer of <c>POST /api/v1/smears</c>.</summary>
public sealed record ApiSmearResponse(ApiModelRef Model, IReadOnlyList<ApiSmear> Images, IReadOnlyDictionary<string, int> Counts, ApiDifferential Differential);

/// <summary>
/// The versioned API for lab systems: classify images with the active (or a named) model, and list, describe and
/// download the models. Every 4xx is an RFC 9457 problem-details document. No sign-in yet: it binds where the portal binds.
/// </summary>
public static class ApiV1Endpoints
{
    public const string Prefix = "/api/v1";

    public static IEndpointRouteBuilder MapApiV1(this IEndpointRouteBuilder app)
    {
        // Not a browser form: antiforgery is off, and Security.CrossSiteGuard refuses what another site's page sends instead.
        var api = app.MapGroup(Prefix).WithTags("v1").DisableAntiforgery().WithHardenedApi();

        api.MapPost("/predict", PredictAsync)
            .WithName("Predict")
            .WithSummary("Classify one or many cell images")
            .WithDescription("multipart/form-data with one or more image parts (JPEG or PNG). Each image gets its class, calibrated confidence and probabilities, or \"Unidentified\" under the model's reject threshold; an image that cannot be read gets an error of its own. Query `model` picks a model by id or name (default: the active model).")
            // The multipart body is described by ApiV1OpenApi (an Accepts filter would turn other content types into a 404).
            .Produces<ApiPredictResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapPost("/window", WindowAsync)
            .WithName("Window")
            .WithSummary("The window the model sees for one image, as a PNG")
            .WithDescription("multipart/form-data with one image (JPEG or PNG). The answer is the model's window (README \"The model format\"): input_width × input_height RGB pixels cut by the window rule of the model's wbc.crop.* metadata; its pixels are what a self-contained model's `window` input takes ([1, H, W, 3] uint8). Query `model` picks a model by id or name (default: the active model).")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapPost("/smears", SmearsAsync)
            .WithName("Smears")
            .WithSummary("Find and classify every white cell of one or many smear images: boxes and the differential count")
            .WithDescription("multipart/form-data with one or more smear images (JPEG or PNG). Each smear gets its white cells: a box in the image's own pixels [xmin, ymin, xmax, ymax], the class (or \"Unidentified\" under the model's reject threshold, with its guess), confidence, probabilities, and whether the cell is cut by the image border. `counts` counts every cell by label; `differential` gives each class's share of the identified cells with its exact 95 % interval. Query `model` picks a model by id or name (default: the active model).")
            .Produces<ApiSmearResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .Demanding(Services.Accounts.PortalAction.Classify);

        api.MapGet("/models", async (ModelCatalog catalog, CancellationToken ct) => Results.Ok(await catalog.ListAsync(ct)))
            .WithName("ListModels").WithSummary("Every registered model's card, the active one first").Produces<IReadOnlyList<ModelCard>>();

        api.MapGet("/models/{id:int}", async (int id, ModelCatalog catalog, CancellationToken ct) =>
                await catalog.GetAsync(id, ct) is { } card ? Results.Ok(card) : Problem(StatusCodes.Status404NotFound, "No such model", $"No model {id}."))
            .WithName("GetModel").WithSummary("One model's card").Produces<ModelCard>().ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/models/{id:int}/onnx", async (int id, ModelCatalog catalog, ClassifierOnnxExporter exporter, HttpContext http, CancellationToken ct) =>
            {
                if (await catalog.OnnxFileAsync(id, ct) is not { } file) return Problem(StatusCodes.Status404NotFound, "No such model file", $"No model {id}, or its ONNX file is missing.");
                http.Response.Headers.XContentTypeOptions = "nosniff";
                // An older export (format 1) leaves self-contained, made from the same weights; the stored file stays as it is.
                var upgraded = await Task.Run(() => exporter.SelfContainedCopy(file.Path), ct);
                return upgraded is null
                    ? Results.File(file.Path, "application/octet-stream", file.FileName)
                    : Results.File(upgraded, "application/octet-stream", file.FileName);
            })
            .WithName("DownloadModel").WithSummary("The model's self-contained ONNX file (README \"The model format\": input 'window' uint8 [N, H, W, 3] RGB, output 'probs' the portal's answer; its metadata carries labels, input size, the window rule, temperature and reject threshold)")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream").ProducesProblem(StatusCodes.Status404NotFound);

        // Anything else under /api/v1 is a problem document, not the portal's not-found page.
        api.Map("/{**rest}", (string? rest) => Problem(StatusCodes.Status404NotFound, "No such endpoint", $"{Prefix}/{rest} is not an endpoint of this API; see /openapi/v1.json.")).ExcludeFromDescription();
        return app;
    }

    /// <summary>The process's decode budget had no room in time: 503 with Retry-After (nothing of the request was kept).</summary>
    public static IResult Busy(HttpContext http, DecodeBudgetBusyException ex)
    {
        http.Response.Headers.RetryAfter = ((int)ex.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problem(StatusCodes.Status503ServiceUnavailable, "Busy decoding images", ex.Message);
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail, Type = $"https://www.rfc-editor.org/rfc/rfc9110#status.{status}" });

    /// <summary>The images of a multipart request and the model asked for (default: the active one), or the problem that refuses the request.</summary>
    private static async Task<(ModelChoice Model, List<PredictionInput> Inputs)?> ReadImagesAsync(HttpContext http, PredictionService predictions, InferenceOptions options,
        string? model, Action<IResult> refuse, CancellationToken ct)
    {
        if (http.Request.ContentLength is long length && length > options.MaxRequestBytes)
        {
            refuse(Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The request is {length:N0} bytes; at most {options.MaxRequestBytes:N0} are taken."));
            return null;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = options.MaxRequestBytes;
        if (!http.Request.HasFormContentType)
        {
            refuse(Problem(StatusCodes.Status400BadRequest, "Not a form upload", "Send the images as multipart/form-data, one part per image."));
            return null;
        }

        List<PredictionInput> inputs;
        try
        {
            inputs = await ReadImagePartsAsync(http.Request, options, ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException or IOException)
        {
            bool tooLarge = ex is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } || ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase);
            refuse(tooLarge
                ? Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"At most {options.MaxRequestBytes:N0} bytes and {options.MaxImagesPerRequest} images per request.")
                : Problem(StatusCodes.Status400BadRequest, "Unreadable form", ex.Message));
            return null;
        }
        if (inputs.Count == 0) { refuse(Problem(StatusCodes.Status400BadRequest, "No image", "The form holds no file part: send at least one image.")); return null; }
        if (inputs.Count > options.MaxImagesPerRequest)
        {
            refuse(Problem(StatusCodes.Status413PayloadTooLarge, "Too many images", $"{inputs.Count} images in one request; at most {options.MaxImagesPerRequest}."));
            return null;
        }

        ModelChoice choice;
        try
        {
            choice = model is { Length: > 0 }
                ? await predictions.ResolveAsync(model, allowFile: false, ct)
                : await predictions.ActiveAsync(ct) ?? throw new InvalidOperationException("No model is active: train a run or make a model active on the Models page.");
        }
        catch (ArgumentException ex) { refuse(Problem(StatusCodes.Status404NotFound, "No such model", ex.Message)); return null; }
        catch (InvalidOperationException ex) { refuse(Problem(StatusCodes.Status409Conflict, "No active model", ex.Message)); return null; }

        return (choice, inputs);
    }

    /// <summary>
    /// The file parts of a multipart body, read in memory as they arrive, within the request's byte limit
    /// (<c>Inference:MaxRequestBytes</c>, which Kestrel enforces too) and part count. The framework's form reader would buffer
    /// every part over 64 KB to an <c>ASPNETCORE_*.tmp</c> file in the temp folder, and an upload (or a portal) killed
    /// mid-way leaves those behind; here nothing of a request touches the disk. Other form fields are read and dropped.
    /// </summary>
    private static async Task<List<PredictionInput>> ReadImagePartsAsync(HttpRequest request, InferenceOptions options, CancellationToken ct)
    {
        var type = Microsoft.Net.Http.Headers.MediaTypeHeaderValue.Parse(request.ContentType);
        // A urlencoded form has no file part (the caller says so).
        if (!type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)) return [];
        string boundary = Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(type.Boundary).ToString();
        if (boundary.Length is 0 or > 70) throw new InvalidDataException("The multipart boundary is missing or longer than 70 characters.");
        var reader = new Microsoft.AspNetCore.WebUtilities.MultipartReader(boundary, request.Body) { BodyLengthLimit = options.MaxRequestBytes };
        var inputs = new List<PredictionInput>();
        int sections = 0;
        long total = 0;
        var chunk = new byte[81920];
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (++sections > options.MaxImagesPerRequest + 16) throw new InvalidDataException($"Form part count limit {options.MaxImagesPerRequest + 16} exceeded.");
            if (!Microsoft.Net.Http.Headers.ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
            {
                throw new InvalidDataException("A form part has no readable Content-Disposition header.");
            }
            bool isFile = disposition.IsFileDisposition();
            using var memory = new MemoryStream();
            int read;
            while ((read = await section.Body.ReadAsync(chunk, ct)) > 0)
            {
                total += read;
                if (total > options.MaxRequestBytes) throw new InvalidDataException($"Request body length limit {options.MaxRequestBytes:N0} exceeded.");
                if (isFile) memory.Write(chunk, 0, read);
            }
            if (!isFile) continue;
            var file = new Microsoft.AspNetCore.WebUtilities.FileMultipartSection(section, disposition);
            inputs.Add(new PredictionInput(string.IsNullOrEmpty(file.FileName) ? file.Name : file.FileName, memory.ToArray()));
        }
        return inputs;
    }

    private static async Task<IResult> PredictAsync(HttpContext http, PredictionService predictions, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        IResult? refusal = null;
        if (await ReadImagesAsync(http, predictions, options, model, r => refusal = r, ct) is not { } request) return refusal!;
        PredictionBatch batch;
        try
        {
            batch = await predictions.PredictAsync(request.Model, request.Inputs, null, ct, DecodeWait.Bounded);
        }
        catch (FileNotFoundException) { return Problem(StatusCodes.Status409Conflict, "Model file missing", "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        return Results.Ok(ToResponse(batch));
    }

    private static async Task<IResult> WindowAsync(HttpContext http, PredictionService predictions, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        IResult? refusal = null;
        if (await ReadImagesAsync(http, predictions, options, model, r => refusal = r, ct) is not { } request) return refusal!;
        if (request.Inputs.Count != 1) return Problem(StatusCodes.Status400BadRequest, "One image", $"Send exactly one image; the request holds {request.Inputs.Count}.");
        try
        {
            return Results.File(await predictions.WindowPngAsync(request.Model, request.Inputs[0], ct, DecodeWait.Bounded), "image/png");
        }
        catch (FileNotFoundException) { return Problem(StatusCodes.Status409Conflict, "Model file missing", "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        catch (Exception ex) when (ex is ImageRejectedException or SixLabors.ImageSharp.ImageFormatException or InvalidDataException or NotSupportedException)
        {
            return Problem(StatusCodes.Status400BadRequest, "Not an image the portal reads", ex.Message);
        }
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
        catch (FileNotFoundException) { return Problem(StatusCodes.Status409Conflict, "Model file missing", "The model's ONNX file is missing from the data folder: import it again or pick another model."); }
        catch (DecodeBudgetBusyException ex) { return Busy(http, ex); }
        return Results.Ok(ToSmearResponse(batch));
    }

    /// <summary>The JSON of a smear batch (the <c>smear</c> verb's, CLI.md, with the model and the differential).</summary>
    public static ApiSmearResponse ToSmearResponse(SmearBatch batch)
    {
        var count = batch.Count();
        return new ApiSmearResponse(
            new ApiModelRef(batch.Model.ModelId, batch.Model.Name, batch.Model.RunId, batch.RejectThreshold, 0, batch.Labels),
            batch.Images.Select(i => new ApiSmear(i.File, i.Error is null ? i.Width : null, i.Error is null ? i.Height : null, i.SingleCellCrop,
                i.Error is null ? i.Cells.Select(c => new ApiSmearCell(c.Box, c.Label, c.Confidence, c.Guess, c.Edge,
                    batch.Labels.Select((l, k) => (l, k)).Where(x => x.k < c.Probabilities.Count).ToDictionary(x => x.l, x => c.Probabilities[x.k]))).ToList() : null,
                i.Error)).ToList(),
            SmearBatch.CountsJson(count),
            new ApiDifferential(count.Cells, count.Identified, count.Unidentified, count.EdgeCells,
                count.Classes.Select(c => new ApiClassCount(c.Label, c.Count, c.Percent, c.LowPercent, c.HighPercent)).ToList()));
    }

    /// <summary>The JSON of a classified batch (shared with the page's CSV so both say the same).</summary>
    public static ApiPredictResponse ToResponse(PredictionBatch batch)
    {
        var predictions = batch.Outcomes.Select(o => o.Prediction is { } p
            ? new ApiPrediction(o.File, p.Answer(batch.Labels), p.Decision.Confidence,
                batch.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => p.Probabilities[x.i]), p.Decision.Unidentified ? batch.Labels[p.Decision.Predicted] : null, null)
            : new ApiPrediction(o.File, null, null, null, null, o.Error)).ToList();
        var counts = predictions.Where(p => p.Label is not null).GroupBy(p => p.Label!).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        return new ApiPredictResponse(new ApiModelRef(batch.Model.ModelId, batch.Model.Name, batch.Model.RunId, batch.RejectThreshold, batch.Temperature, batch.Labels), predictions, counts);
    }
}
