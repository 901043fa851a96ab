namespace WbcPortal.Components.Layout;

/// <summary>
/// The theme a page starts in, read from the request's cookies when the server renders it (theme.js writes them): the
/// user's choice (<see cref="ChoiceCookie"/>) wins, else the browser's preference (<see cref="PreferenceCookie"/>),
/// else light.
/// </summary>
public sealed record ThemePreference(bool Dark, bool Chosen)
{
    public const string ChoiceCookie = "wbc-theme";
    public const string PreferenceCookie = "wbc-prefers";

    public static ThemePreference From(IRequestCookieCollection cookies) => cookies[ChoiceCookie] switch
    {
        "dark" => new(true, true),
        "light" => new(false, true),
        _ => new(cookies[PreferenceCookie] == "dark", false),
    };
}
