using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using WbcPortal.Options;

namespace WbcPortal.Endpoints;

/// <summary>
/// The OpenAPI document's own words for what the endpoints cannot say themselves: the fixed server, the token, the
/// multipart bodies and their limits, the problem codes of each route and status, and fields that are absent rather
/// than null. ApiContractTests checks every documented response of a real portal against the result.
/// </summary>
public static class ApiV1OpenApi
{
    public static OpenApiOptions Describe(this OpenApiOptions options)
    {
        // The document is the /api/v1 contract only: the pages' own image, report and export URLs (review decisions carry
        // reviewer names and notes) are not an API for others.
        options.ShouldInclude = description => description.RelativePath?.StartsWith("api/v1/", StringComparison.OrdinalIgnoreCase) == true;
        options.AddDocumentTransformer((document, context, _) =>
        {
            var services = context.ApplicationServices;
            var inference = services.GetRequiredService<InferenceOptions>();
            var import = services.GetRequiredService<IOptions<ImportOptions>>().Value;
            string publicBaseUrl = services.GetRequiredService<IOptions<ApiOptions>>().Value.PublicBaseUrl.TrimEnd('/');
            document.Info.Title = "WbcPortal API";
            document.Info.Description = "Classify white-blood-cell images and whole smears (every white cell boxed, the differential count) with the exported ONNX models, and list or download the models.\n\n"
                + "Every call needs an API token (made on your account page in the portal, or `WbcPortal token create USER`): `Authorization: Bearer TOKEN`; classifying needs a Reviewer or Admin token.\n\n"
                + $"Limits: {Limits(inference, import)} Each client gets {services.GetRequiredService<Security.SecurityOptions>().ApiRequestsPerMinute} requests a minute (bursts of {services.GetRequiredService<Security.SecurityOptions>().ApiBurst}); beyond that 429 with Retry-After.\n\n"
                + "Every refusal is an RFC 9457 problem document (`application/problem+json`) with a stable `code` (its `type` is `urn:wbcportal:problem:CODE`) and the request's `traceId`, which the portal's log names too. "
                + "Each operation lists the codes it may answer with under each status. A path of this API asked with a method it does not take answers 405 (`method-not-allowed`, with `Allow`); a path that is not one 404 (`endpoint-not-found`); an unexpected failure 500 (`internal-error`).";
            // A fixed address from configuration (Api:PublicBaseUrl), else "/" (the origin the document came from): never the request's Host header.
            document.Servers = [new OpenApiServer { Url = publicBaseUrl.Length > 0 ? publicBaseUrl : "/", Description = publicBaseUrl.Length > 0 ? "This portal (Api:PublicBaseUrl)" : "The origin this document was fetched from" }];
            document.Tags = new HashSet<OpenApiTag> { new() { Name = "v1", Description = "Classification and models, version 1: keys are only ever added within a version." } };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "wbc_ API token",
                Description = "An API token made on the portal's account page (or `WbcPortal token create USER`), with a role and an expiry.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
            if (document.Components.Schemas is { } schemas)
            {
                OneOfWithoutDiscriminator(document, schemas);
                foreach (var schema in schemas.Values.OfType<OpenApiSchema>()) AbsentNotNull(schema);
                if (schemas.TryGetValue(nameof(ApiProblem), out var problem) && problem is OpenApiSchema { Properties: { } properties })
                {
                    if (properties.TryGetValue("code", out var code) && code is OpenApiSchema codeSchema) codeSchema.Enum = [.. ApiProblems.All.Select(k => (JsonNode)JsonValue.Create(k.Code))];
                    if (properties.TryGetValue("type", out var type) && type is OpenApiSchema typeSchema) typeSchema.Format = "uri";
                }
            }
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var inference = context.ApplicationServices.GetRequiredService<InferenceOptions>();
            var import = context.ApplicationServices.GetRequiredService<IOptions<ImportOptions>>().Value;
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<ApiProblemsMetadata>().LastOrDefault() is { } problems) DescribeProblems(operation, problems);
            if (operation.OperationId is "Predict" or "Smears" or "Window") DescribeUpload(operation, inference, import);
            if (operation.OperationId == "Window" && operation.Responses?.TryGetValue("200", out var window) == true && window is OpenApiResponse windowResponse)
            {
                windowResponse.Description = "The model's window of the image, input_width x input_height RGB pixels, as a PNG.";
                windowResponse.Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["image/png"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                };
            }
            if (operation.OperationId == "Predict" && operation.Responses?.TryGetValue("200", out var ok) == true && ok is OpenApiResponse { Content: { } content })
            {
                content["text/csv"] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The Classify page's CSV: file, answer, confidence, guess, one p_LABEL column per class, error." },
                };
            }
            if (operation.OperationId == "DownloadModel" && operation.Responses?.TryGetValue("200", out var file) == true && file is OpenApiResponse fileResponse)
            {
                fileResponse.Description = "The ONNX file, as a download (Content-Disposition names it).";
                fileResponse.Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/octet-stream"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                };
            }
            if (operation.Parameters is { } parameters)
            {
                foreach (var parameter in parameters.OfType<OpenApiParameter>())
                {
                    parameter.Description ??= parameter.Name switch
                    {
                        "model" => "The model to classify with, by id or name (default: the active model).",
                        "id" => "The model's id (ListModels gives them).",
                        _ => null,
                    };
                }
            }
            return Task.CompletedTask;
        });
        return options;
    }

    private static string Limits(InferenceOptions inference, ImportOptions import) => string.Create(CultureInfo.InvariantCulture,
        $"one request carries at most {inference.MaxImagesPerRequest} images and {Size(inference.MaxRequestBytes)} (413 `too-many-images`, `request-too-large`); each image at most {Size(import.MaxFileBytes)}, {import.MaxWidth}x{import.MaxHeight} and {import.MaxPixels / 1e6:0.#} megapixels, or it gets an `error` of its own (the other images are still answered).");

    private static string Size(long bytes) => bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB ({bytes:N0} bytes)" : $"{bytes:N0} bytes";

    /// <summary>
    /// The API writes no nulls (<c>WhenWritingNull</c>): a property the schema generator calls nullable (and, from a record's
    /// constructor, required) is in fact absent when it has no value. Say so: not null, not required.
    /// </summary>
    internal static void AbsentNotNull(OpenApiSchema schema)
    {
        if (schema.Properties is not { } properties) return;
        foreach (var name in properties.Keys.ToList())
        {
            switch (properties[name])
            {
                case OpenApiSchema { Type: { } type } property when type.HasFlag(JsonSchemaType.Null) && type != JsonSchemaType.Null:
                    property.Type = type & ~JsonSchemaType.Null;
                    schema.Required?.Remove(name);
                    AbsentNotNull(property);
                    break;
                case OpenApiSchema { OneOf: { Count: 2 } oneOf } when oneOf.Count(IsNull) == 1:
                    properties[name] = oneOf.First(s => !IsNull(s));
                    schema.Required?.Remove(name);
                    break;
                case OpenApiSchema property:
                    AbsentNotNull(property);
                    break;
            }
        }
        static bool IsNull(IOpenApiSchema s) => s is OpenApiSchema { Type: JsonSchemaType.Null };
    }

    /// <summary>
    /// An item that is one of two shapes (an answer or an error) is a System.Text.Json polymorphic type without a
    /// discriminator: nothing in the JSON names the shape. The generator still declares a <c>$type</c> discriminator and
    /// names the shapes after the base type (<c>ApiPredictionItemApiPrediction</c>); say instead that each item is exactly
    /// one of the shapes, under their own names.
    /// </summary>
    internal static void OneOfWithoutDiscriminator(OpenApiDocument document, IDictionary<string, IOpenApiSchema> schemas)
    {
        foreach (var (baseName, found) in schemas.ToList())
        {
            if (found is not OpenApiSchema { Discriminator.PropertyName: "$type", AnyOf: { Count: > 0 } shapes } polymorphic) continue;
            var oneOf = new List<IOpenApiSchema>();
            foreach (var shape in shapes)
            {
                if (shape is not OpenApiSchemaReference { Reference.Id: { } id } || !schemas.TryGetValue(id, out var target)) { oneOf.Add(shape); continue; }
                string name = id.StartsWith(baseName, StringComparison.Ordinal) && id.Length > baseName.Length && !schemas.ContainsKey(id[baseName.Length..]) ? id[baseName.Length..] : id;
                schemas.Remove(id);
                if (target is OpenApiSchema concrete)
                {
                    concrete.Type = JsonSchemaType.Object;
                    concrete.Properties?.Remove("$type");
                }
                schemas[name] = target;
                oneOf.Add(new OpenApiSchemaReference(name, document));
            }
            polymorphic.AnyOf = null;
            polymorphic.Discriminator = null;
            polymorphic.Required?.Remove("$type");
            polymorphic.OneOf = oneOf;
        }
    }

    /// <summary>Each problem response says which codes it carries, in its description and as the schema's <c>code</c> enum.</summary>
    private static void DescribeProblems(OpenApiOperation operation, ApiProblemsMetadata problems)
    {
        if (operation.Responses is null) return;
        foreach (var byStatus in problems.Kinds.GroupBy(k => k.Status))
        {
            if (!operation.Responses.TryGetValue(byStatus.Key.ToString(CultureInfo.InvariantCulture), out var found) || found is not OpenApiResponse response) continue;
            if (response.Content?.TryGetValue("application/problem+json", out var media) != true || media!.Schema is not { } problem) continue;
            var kinds = byStatus.DistinctBy(k => k.Code).ToList();
            response.Description = string.Join(" ", kinds.Select(k => $"`{k.Code}`: {k.Meaning}"));
            media.Schema = new OpenApiSchema
            {
                AllOf = [problem],
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. kinds.Select(k => (JsonNode)JsonValue.Create(k.Code))] },
                    ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Enum = [JsonValue.Create(byStatus.Key)] },
                },
            };
        }
    }

    private static void DescribeUpload(OpenApiOperation operation, InferenceOptions inference, ImportOptions import)
    {
        bool smears = operation.OperationId == "Smears";
        operation.Description += $"\n\nLimits: {Limits(inference, import)}";
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = $"One `{ApiV1Endpoints.ImagesField}` file part per {(smears ? "smear image" : "image")} (JPEG or PNG); the part's file name is echoed as \"file\". "
                + $"A part of any other name, or an `{ApiV1Endpoints.ImagesField}` part without a file name, refuses the request (400 `unknown-form-field`); another body type gets 415.",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["multipart/form-data"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { ApiV1Endpoints.ImagesField },
                        AdditionalPropertiesAllowed = false,
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            [ApiV1Endpoints.ImagesField] = new OpenApiSchema
                            {
                                Type = JsonSchemaType.Array,
                                MinItems = 1,
                                MaxItems = operation.OperationId == "Window" ? 1 : inference.MaxImagesPerRequest,
                                Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                            },
                        },
                    },
                    Encoding = new Dictionary<string, OpenApiEncoding> { [ApiV1Endpoints.ImagesField] = new() { ContentType = "image/jpeg, image/png, application/octet-stream" } },
                },
            },
        };
    }
}
