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
    private const string Style = "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5}label{display:block;margin-top:1rem;font-weight:600}input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}button{margin-top:1rem;font-size:1rem;padding:.5rem 1rem}.error{color:#a00;border:1px solid #a00;padding:.5rem}code{word-break:break-all}</style>";

    public static string E(string? value) => HtmlEncoder.Default.Encode(value ?? string.Empty);

    public static IResult Page(HttpContext context, string title, string body, int status = StatusCodes.Status200OK)
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
            {Style}
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

    /// <summary>Only same-site paths are followed after a form (no open redirects).</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) && !returnUrl.StartsWith("/\\", StringComparison.Ordinal)
            ? returnUrl
            : "/account";
}
