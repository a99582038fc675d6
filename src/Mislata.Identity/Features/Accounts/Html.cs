using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// Server-rendered pages without JavaScript: one accessible layout (lang, title, labels, landmarks), every value
/// HTML-encoded, every form carrying the antiforgery token.
/// </summary>
internal static class Html
{
    /// <summary>
    /// The pages' stylesheet, served as a file (<c>/account/site.css</c>) because the gateway's Content-Security-Policy
    /// allows no inline styles.
    /// </summary>
    public const string Css = """
        :root{color-scheme:light dark;--accent:#3b4cca;--danger:#b00020;--muted:#666}
        *{box-sizing:border-box}
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;line-height:1.5;background:#f4f5f8;color:#1b1d23}
        header{background:#1b1d23;color:#fff;padding:.75rem 1.25rem;font-weight:600;letter-spacing:.02em}
        header p{margin:0}
        main{max-width:28rem;margin:2.5rem auto;padding:1.75rem 2rem;background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
        h1{font-size:1.5rem;margin:0 0 1rem}
        label{display:block;margin-top:1rem;font-weight:600}
        input:not([type=hidden]):not([type=checkbox]){display:block;width:100%;font-size:1rem;padding:.55rem .65rem;margin-top:.3rem;border:1px solid #b8bcc8;border-radius:6px}
        input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
        button{margin-top:1.25rem;font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:6px;background:var(--accent);color:#fff;cursor:pointer}
        button:hover{filter:brightness(1.1)}
        .error{color:var(--danger);border:1px solid var(--danger);border-radius:6px;padding:.5rem .75rem;background:#fff5f6}
        code{word-break:break-all;background:#f0f1f5;padding:.1rem .3rem;border-radius:4px}
        a{color:var(--accent)}
        @media (prefers-color-scheme:dark){body{background:#121317;color:#e8e9ee}main{background:#1d1f26;box-shadow:none}input:not([type=hidden]):not([type=checkbox]){background:#121317;color:#e8e9ee;border-color:#3a3d48}code{background:#2a2d36}.error{background:#2a1517}}
        """;


    public static string E(string? value) => HtmlEncoder.Default.Encode(value ?? string.Empty);

    public static IResult Page(HttpContext context, string title, string body, int status = StatusCodes.Status200OK, string? script = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Pragma = "no-cache";
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{E(title)} · Mislata</title>
            <link rel="stylesheet" href="/account/site.css">
            {(script is null ? string.Empty : $"<script src=\"{E(script)}\" defer></script>")}
            </head>
            <body>
            <header><p>Mislata</p></header>
            <main>
            <h1>{E(title)}</h1>
            {body}
            </main>
            </body>
            </html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);
    }

    public static string Error(string? message) =>
        string.IsNullOrEmpty(message) ? string.Empty : $"""<p class="error" role="alert" id="error">{E(message)}</p>""";

    /// <summary>A POST form to <paramref name="action"/> with the antiforgery token and the given inner HTML.</summary>
    public static string Form(HttpContext context, string action, string inner)
    {
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        var tokens = antiforgery.GetAndStoreTokens(context);
        return $"""
            <form method="post" action="{E(action)}">
            <input type="hidden" name="{E(tokens.FormFieldName)}" value="{E(tokens.RequestToken)}">
            {inner}
            </form>
            """;
    }

    public static string Hidden(string name, string? value) => $"""<input type="hidden" name="{E(name)}" value="{E(value)}">""";

    public static string Field(string id, string label, string type, string? autocomplete, string? value = null, string? extra = null) =>
        $"""<label for="{E(id)}">{E(label)}</label><input id="{E(id)}" name="{E(id)}" type="{E(type)}" {(autocomplete is null ? string.Empty : $"autocomplete=\"{E(autocomplete)}\"")} value="{E(value)}" required {extra}>""";
}
