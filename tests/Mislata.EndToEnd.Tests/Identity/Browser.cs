using System.Net;
using AngleSharp.Html.Dom;
using AngleSharp.Html.Parser;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// A cookie-keeping HTTPS client for the gateway that reads HTML pages and submits their forms (antiforgery token
/// included), the way a browser without JavaScript does. Redirects are followed by hand so tests see each hop.
/// </summary>
public sealed class Browser : IDisposable
{
    private static readonly HtmlParser Parser = new();
    private readonly HttpClient _client;

    /// <param name="stack">The stack whose gateway the browser talks to.</param>
    /// <param name="source">The address the browser connects from; by default one no other browser of the run uses.</param>
    public Browser(MislataStack stack, IPAddress? source = null)
        : this((stack ?? throw new ArgumentNullException(nameof(stack))).Gateway.BaseAddress, stack.Gateway.Certificate, source)
    {
    }

    /// <summary>A browser of the gateway at <paramref name="baseAddress"/> that trusts exactly <paramref name="certificate"/>.</summary>
    public Browser(Uri baseAddress, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, IPAddress? source = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Cookies = new CookieContainer();
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = true,
            CookieContainer = Cookies,
            ConnectCallback = Abuse.SourceAddress.ConnectFrom(source ?? Abuse.SourceAddress.NextPersonal()),
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && cert.GetCertHashString() == certificate.GetCertHashString(),
            },
        };
        _client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public CookieContainer Cookies { get; }

    public sealed record Page(HttpStatusCode Status, Uri Url, Uri? Location, string Body, IHtmlDocument Document);

    public async Task<Page> GetAsync(string url) => await SendAsync(new HttpRequestMessage(HttpMethod.Get, url));

    /// <summary>GETs and follows redirects inside the gateway; stops at a redirect leaving it (e.g. to a client's redirect_uri).</summary>
    public async Task<Page> NavigateAsync(string url)
    {
        var page = await GetAsync(url);
        return await FollowAsync(page);
    }

    public async Task<Page> FollowAsync(Page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        for (var hops = 0; hops < 10 && page.Location is { } location && IsGateway(location); hops++)
        {
            page = await GetAsync(location.ToString());
        }

        return page;
    }

    /// <summary>Fills the page's form (the first, or the one matching <paramref name="selector"/>) and posts it.</summary>
    public async Task<Page> SubmitAsync(Page page, IReadOnlyDictionary<string, string>? values = null, string? submitName = null, string? submitValue = null, string selector = "form")
    {
        ArgumentNullException.ThrowIfNull(page);
        var form = page.Document.QuerySelector(selector) as IHtmlFormElement
            ?? throw new InvalidOperationException($"no form '{selector}' on {page.Url} ({(int)page.Status}):\n{page.Body}");
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var input in form.QuerySelectorAll("input").OfType<IHtmlInputElement>())
        {
            if (!string.IsNullOrEmpty(input.Name) && values?.ContainsKey(input.Name) != true)
            {
                fields.Add(new(input.Name, input.Value ?? string.Empty));
            }
        }

        foreach (var (k, v) in values ?? new Dictionary<string, string>())
        {
            fields.Add(new(k, v));
        }

        if (submitName is not null)
        {
            fields.Add(new(submitName, submitValue ?? string.Empty));
        }

        var action = form.GetAttribute("action") ?? page.Url.PathAndQuery;
        using var request = new HttpRequestMessage(HttpMethod.Post, action) { Content = new FormUrlEncodedContent(fields) };
        return await SendAsync(request);
    }

    /// <summary>POSTs <paramref name="fields"/> as a form to <paramref name="action"/> (what a page script's fetch does).</summary>
    public async Task<Page> PostFormAsync(string action, IEnumerable<KeyValuePair<string, string>> fields)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, action) { Content = new FormUrlEncodedContent(fields) };
        return await SendAsync(request);
    }

    public static bool IsGateway(Uri location) => !location.IsAbsoluteUri || location.Host == "localhost";

    private async Task<Page> SendAsync(HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await _client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            var url = new Uri(_client.BaseAddress!, request.RequestUri!);
            var location = response.Headers.Location is { } l ? (l.IsAbsoluteUri ? l : new Uri(url, l)) : null;
            return new Page(response.StatusCode, url, location, body, Parser.ParseDocument(body));
        }
    }

    public void Dispose() => _client.Dispose();
}
