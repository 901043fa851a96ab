using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace WbcPortal.Tests.Support;

/// <summary>
/// A portal's served OpenAPI document, used as a contract: each real response is checked against the schema the document
/// gives for its path, method, status and content type (JSON Schema 2020-12, as OpenAPI 3.1 says), and every response
/// checked is recorded, so a test can tell which documented responses it has seen.
/// </summary>
public sealed class ApiContract
{
    private readonly JsonObject document;
    private readonly JsonObject definitions;
    private readonly HashSet<string> seen = new(StringComparer.Ordinal);

    private ApiContract(string json)
    {
        Text = json;
        document = JsonNode.Parse(json)!.AsObject();
        // The component schemas as $defs of every schema built here, their references rewritten to match.
        definitions = JsonNode.Parse(document["components"]?["schemas"]?.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal) ?? "{}")!.AsObject();
    }

    /// <summary>The document as served.</summary>
    public string Text { get; }

    public JsonObject Document => document;

    public static async Task<ApiContract> LoadAsync(HttpClient http, CancellationToken ct) => new(await http.GetStringAsync("openapi/v1.json", ct));

    /// <summary>"METHOD /path/{template} STATUS" of every response the document lists.</summary>
    public IReadOnlyList<string> Documented() =>
        [.. document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject()
            .Where(op => op.Value is JsonObject o && o.ContainsKey("responses"))
            .SelectMany(op => op.Value!["responses"]!.AsObject().Select(r => Key(op.Key, path.Key, r.Key))))];

    /// <summary>The responses checked so far, as <see cref="Documented"/> names them.</summary>
    public IReadOnlyCollection<string> Seen => seen;

    private static string Key(string method, string template, string status) => $"{method.ToUpperInvariant()} {template} {status}";

    /// <summary>
    /// Checks a response against the document: its status must be listed for the operation, its content type among that
    /// response's, and a JSON body must validate against the schema. Returns the body (JSON parsed, when it is JSON).
    /// </summary>
    public async Task<string> CheckAsync(HttpResponseMessage response, string method, string template, CancellationToken ct)
    {
        string status = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
        string body = await response.Content.ReadAsStringAsync(ct);
        var operation = document["paths"]?[template]?[method.ToLowerInvariant()]
            ?? throw new Xunit.Sdk.XunitException($"The document has no operation {method} {template}.");
        var documented = operation["responses"]?[status]
            ?? throw new Xunit.Sdk.XunitException($"{method} {template} answered {status}, which the document does not list for it: {Shorten(body)}");
        string mediaType = response.Content.Headers.ContentType?.MediaType ?? "";
        var content = documented["content"]?.AsObject();
        Assert.True(content is not null && content.ContainsKey(mediaType),
            $"{method} {template} {status} answered {mediaType}; the document lists {string.Join(", ", content?.Select(c => c.Key) ?? [])}.");
        var schema = content![mediaType]?["schema"];
        if (schema is not null && (mediaType.EndsWith("json", StringComparison.Ordinal)))
        {
            Validate(schema, body, $"{method} {template} {status} {mediaType}");
        }
        seen.Add(Key(method, template, status));
        return body;
    }

    /// <summary>Validates a JSON text against a component schema by name (for responses no operation lists: 404, 405).</summary>
    public void ValidateComponent(string name, string body) =>
        Validate(new JsonObject { ["$ref"] = $"#/components/schemas/{name}" }, body, name);

    private void Validate(JsonNode schema, string body, string what)
    {
        var root = JsonNode.Parse(schema.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal))!.AsObject();
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
        var id = new Uri($"https://contract.wbcportal.test/{Guid.NewGuid():N}");
        root["$id"] = id.ToString();
        root["$defs"] = definitions.DeepClone();
        var built = JsonSchema.FromText(root.ToJsonString(), BuildOptions.Default, id);
        using var instance = JsonDocument.Parse(body);
        var result = built.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return;
        var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.SchemaLocation}): {e.Value}")).Take(12);
        throw new Xunit.Sdk.XunitException($"{what} does not match the document:\n  {string.Join("\n  ", errors)}\nbody: {Shorten(body)}");
    }

    private static string Shorten(string text) => text.Length <= 600 ? text : text[..600] + "…";
}
