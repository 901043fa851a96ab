using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using WbcPortal.Options;
using WbcPortal.Services.Classify;

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

/// <summary>
/// The versioned API for lab systems: classify images with the active (or a named) model, and list, describe and
/// download the models. Every 4xx is an RFC 9457 problem-details document. No sign-in yet: it binds where the portal binds.
/// </summary>
public static class ApiV1Endpoints
{
    public const string Prefix = "/api/v1";

    public static IEndpointRouteBuilder MapApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(Prefix).WithTags("v1").DisableAntiforgery();

        api.MapPost("/predict", PredictAsync)
            .WithName("Predict")
            .WithSummary("Classify one or many cell images")
            .WithDescription("multipart/form-data with one or more image parts (JPEG or PNG). Each image gets its class, calibrated confidence and probabilities, or \"Unidentified\" under the model's reject threshold; an image that cannot be read gets an error of its own. Query `model` picks a model by id or name (default: the active model).")
            // The multipart body is described by ApiV1OpenApi (an Accepts filter would turn other content types into a 404).
            .Produces<ApiPredictResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status409Conflict);

        api.MapGet("/models", async (ModelCatalog catalog, CancellationToken ct) => Results.Ok(await catalog.ListAsync(ct)))
            .WithName("ListModels").WithSummary("Every registered model's card, the active one first").Produces<IReadOnlyList<ModelCard>>();

        api.MapGet("/models/{id:int}", async (int id, ModelCatalog catalog, CancellationToken ct) =>
                await catalog.GetAsync(id, ct) is { } card ? Results.Ok(card) : Problem(StatusCodes.Status404NotFound, "No such model", $"No model {id}."))
            .WithName("GetModel").WithSummary("One model's card").Produces<ModelCard>().ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/models/{id:int}/onnx", async (int id, ModelCatalog catalog, HttpContext http, CancellationToken ct) =>
            {
                if (await catalog.OnnxFileAsync(id, ct) is not { } file) return Problem(StatusCodes.Status404NotFound, "No such model file", $"No model {id}, or its ONNX file is missing.");
                http.Response.Headers.XContentTypeOptions = "nosniff";
                return Results.File(file.Path, "application/octet-stream", file.FileName);
            })
            .WithName("DownloadModel").WithSummary("The model's ONNX file (its metadata carries labels, input size, crop, temperature and reject threshold)")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream").ProducesProblem(StatusCodes.Status404NotFound);

        // Anything else under /api/v1 is a problem document, not the portal's not-found page.
        api.Map("/{**rest}", (string? rest) => Problem(StatusCodes.Status404NotFound, "No such endpoint", $"{Prefix}/{rest} is not an endpoint of this API; see /openapi/v1.json.")).ExcludeFromDescription();
        return app;
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail, Type = $"https://www.rfc-editor.org/rfc/rfc9110#status.{status}" });

    private static async Task<IResult> PredictAsync(HttpContext http, PredictionService predictions, InferenceOptions options, [FromQuery] string? model, CancellationToken ct)
    {
        if (http.Request.ContentLength is long length && length > options.MaxRequestBytes)
            return Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The request is {length:N0} bytes; at most {options.MaxRequestBytes:N0} are taken.");
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = options.MaxRequestBytes;
        if (!http.Request.HasFormContentType)
            return Problem(StatusCodes.Status400BadRequest, "Not a form upload", "Send the images as multipart/form-data, one part per image.");

        IFormCollection form;
        try
        {
            form = await http.Request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = options.MaxRequestBytes, ValueCountLimit = options.MaxImagesPerRequest + 16 }, ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException or IOException)
        {
            bool tooLarge = ex is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } || ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase);
            return tooLarge
                ? Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"At most {options.MaxRequestBytes:N0} bytes and {options.MaxImagesPerRequest} images per request.")
                : Problem(StatusCodes.Status400BadRequest, "Unreadable form", ex.Message);
        }
        var files = form.Files;
        if (files.Count == 0) return Problem(StatusCodes.Status400BadRequest, "No image", "The form holds no file part: send at least one image.");
        if (files.Count > options.MaxImagesPerRequest)
            return Problem(StatusCodes.Status413PayloadTooLarge, "Too many images", $"{files.Count} images in one request; at most {options.MaxImagesPerRequest}.");

        ModelChoice choice;
        try
        {
            choice = model is { Length: > 0 }
                ? await predictions.ResolveAsync(model, allowFile: false, ct)
                : await predictions.ActiveAsync(ct) ?? throw new InvalidOperationException("No model is active: train a run or make a model active on the Models page.");
        }
        catch (ArgumentException ex) { return Problem(StatusCodes.Status404NotFound, "No such model", ex.Message); }
        catch (InvalidOperationException ex) { return Problem(StatusCodes.Status409Conflict, "No active model", ex.Message); }

        var inputs = new List<PredictionInput>(files.Count);
        foreach (var file in files)
        {
            using var stream = new MemoryStream((int)Math.Min(file.Length, int.MaxValue));
            await file.CopyToAsync(stream, ct);
            inputs.Add(new PredictionInput(string.IsNullOrEmpty(file.FileName) ? file.Name : file.FileName, stream.ToArray()));
        }
        PredictionBatch batch;
        try
        {
            batch = await predictions.PredictAsync(choice, inputs, null, ct);
        }
        catch (FileNotFoundException ex) { return Problem(StatusCodes.Status409Conflict, "Model file missing", ex.Message); }
        return Results.Ok(ToResponse(batch));
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
