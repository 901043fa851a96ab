using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.Extensions.Primitives;

namespace WbcPortal.Security;

/// <summary>
/// A page's typed query parameters (<see cref="SupplyParameterFromQueryAttribute"/>) that do not parse would stop the page
/// with a 500 (Blazor throws while it renders). A link with such a value is answered with a redirect to the same page
/// without it: the page opens with its default, as if the value had not been given. Values that parse but are out of
/// range are each page's to ignore.
/// </summary>
public static class PageQueryGuard
{
    /// <summary>One typed query parameter of a page.</summary>
    public sealed record QueryParameter(string Name, Type Type);

    private static readonly ConcurrentDictionary<Type, IReadOnlyList<QueryParameter>> Cache = new();

    /// <summary>The query parameters a page component takes, as Blazor binds them.</summary>
    public static IReadOnlyList<QueryParameter> Of(Type component) => Cache.GetOrAdd(component, static type =>
        type.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Select(p => (Property: p, Attribute: p.GetCustomAttribute<SupplyParameterFromQueryAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => new QueryParameter(x.Attribute!.Name ?? x.Property.Name, x.Property.PropertyType))
            .ToList());

    /// <summary>Whether Blazor can bind <paramref name="value"/> to <paramref name="type"/> (its own parsing rules: invariant culture, no exponents).</summary>
    public static bool Parses(Type type, string? value)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (type.IsArray) return Parses(type.GetElementType()!, value);
        if (string.IsNullOrEmpty(value)) return underlying is not null || !type.IsValueType;
        var t = underlying ?? type;
        var invariant = CultureInfo.InvariantCulture;
        return t == typeof(string)
            || (t == typeof(bool) && bool.TryParse(value, out _))
            || (t == typeof(int) && int.TryParse(value, NumberStyles.Integer, invariant, out _))
            || (t == typeof(long) && long.TryParse(value, NumberStyles.Integer, invariant, out _))
            || (t == typeof(double) && double.TryParse(value, NumberStyles.Number, invariant, out _))
            || (t == typeof(float) && float.TryParse(value, NumberStyles.Number, invariant, out _))
            || (t == typeof(decimal) && decimal.TryParse(value, NumberStyles.Number, invariant, out _))
            || (t == typeof(Guid) && Guid.TryParse(value, out _))
            || (t == typeof(DateTime) && DateTime.TryParse(value, invariant, DateTimeStyles.None, out _))
            || (t == typeof(DateOnly) && DateOnly.TryParse(value, invariant, DateTimeStyles.None, out _))
            || (t == typeof(TimeOnly) && TimeOnly.TryParse(value, invariant, DateTimeStyles.None, out _));
    }

    /// <summary>The query without the values the page cannot bind, or null when every value binds.</summary>
    public static QueryString? Cleaned(Type component, IQueryCollection query)
    {
        var parameters = Of(component);
        if (parameters.Count == 0) return null;
        bool dropped = false;
        var kept = new List<KeyValuePair<string, StringValues>>();
        foreach (var (key, values) in query)
        {
            var parameter = parameters.FirstOrDefault(p => p.Name.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (parameter is null) { kept.Add(new(key, values)); continue; }
            var good = values.Where(v => Parses(parameter.Type, v)).ToArray();
            dropped |= good.Length != values.Count;
            if (good.Length > 0) kept.Add(new(key, new StringValues(good)));
        }
        return dropped ? QueryString.Create(kept) : null;
    }

    public static IApplicationBuilder UsePageQueryGuard(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        if ((HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)) && http.Request.QueryString.HasValue
            && http.GetEndpoint()?.Metadata.GetMetadata<ComponentTypeMetadata>() is { } page
            && Cleaned(page.Type, http.Request.Query) is { } cleaned)
        {
            http.Response.Redirect($"{http.Request.PathBase}{http.Request.Path}{cleaned}");
            return Task.CompletedTask;
        }
        return next(http);
    });
}
