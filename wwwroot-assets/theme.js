// The portal's theme. A user's choice is kept in the cookie wbc-theme; without one, the browser's preference
// (prefers-color-scheme) decides, and is kept in wbc-prefers. The server reads both when it renders a page, so a page
// comes in the right theme at once, with no flash of the other. A static file: the CSP allows no inline script.
(() => {
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const write = (name, value) => { document.cookie = `${name}=${value}; path=/; max-age=31536000; samesite=lax`; };
    const scheme = dark => (dark ? "dark" : "light");
    write("wbc-prefers", scheme(media.matches));
    // A first visit has no cookie yet: the page's own styles (the sign-in page's) follow the browser at once.
    if (!/(?:^|;\s*)wbc-theme=/.test(document.cookie)) document.documentElement.dataset.theme = scheme(media.matches);

    window.wbcTheme = {
        choose: dark => {
            write("wbc-theme", scheme(dark));
            document.documentElement.dataset.theme = scheme(dark);
        },
        // Calls the component back when the browser's preference changes (a user who never chose follows it), and returns
        // the preference as it is once the listener is in place: a change between asking and listening is never lost.
        follow: component => {
            media.addEventListener("change", e => {
                write("wbc-prefers", scheme(e.matches));
                if (!/(?:^|;\s*)wbc-theme=/.test(document.cookie)) {
                    document.documentElement.dataset.theme = scheme(e.matches);
                    component.invokeMethodAsync("PreferenceChanged", e.matches);
                }
            });
            write("wbc-prefers", scheme(media.matches));
            return media.matches;
        },
    };
})();
