using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace WbcPortal.Endpoints;

/// <summary>The OpenAPI document's own words for what the endpoints cannot say themselves: the multipart bodies of predict and smears.</summary>
public static class ApiV1OpenApi
{
    public static OpenApiOptions Describe(this OpenApiOptions options)
    {
        // The document is the /api/v1 contract only: the pages' own image, report and export URLs (review decisions carry
        // reviewer names and notes) are not an API for others.
        options.ShouldInclude = description => description.RelativePath?.StartsWith("api/v1/", StringComparison.OrdinalIgnoreCase) == true;
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "WbcPortal API";
            document.Info.Description = "Classify white-blood-cell images and whole smears (every white cell boxed, the differential count) with the exported ONNX models, and list or download the models. Errors are RFC 9457 problem documents. Every call needs an API token (made on your account page in the portal): Authorization: Bearer TOKEN; classifying needs a Reviewer or Admin token.";
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
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (operation.OperationId is not ("Predict" or "Smears")) return Task.CompletedTask;
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = operation.OperationId == "Smears" ? "One part per smear image (JPEG or PNG); the part's file name is echoed as \"file\"." : "One part per image (JPEG or PNG); the part's file name is echoed as \"file\".",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["multipart/form-data"] = new()
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Properties = new Dictionary<string, IOpenApiSchema>
                            {
                                ["images"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                            },
                        },
                    },
                },
            };
            return Task.CompletedTask;
        });
        return options;
    }
}
