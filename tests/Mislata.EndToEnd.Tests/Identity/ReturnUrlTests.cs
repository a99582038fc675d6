using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Return URLs: after sign-in only a strict local path is followed (issue 8, attack 3), through the gateway.</summary>
[Collection(IdentityCollection.Name)]
public sealed class ReturnUrlTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Signing_in_redirects_only_to_a_strict_local_path()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail("returning");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        string[] hostile =
        [
            "/\t/evil.example",
            "/\\evil.example",
            "//evil.example",
            "https://evil.example/",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%2f%2fevil.example",
            "/%5cevil.example",
            "/%252f%252fevil.example",
            "/account?next=%0d%0aSet-Cookie:x=1",
        ];
        using var form = new AccountsKit.LoginForm(_stack);

        var followed = new List<string>();
        foreach (var returnUrl in hostile)
        {
            var answer = await form.PostAsync(email, password, returnUrl);
            Assert.True(answer.Status == HttpStatusCode.Redirect, $"{returnUrl}: {(int)answer.Status} {answer.Body}");
            if (answer.Location != "/account")
            {
                followed.Add($"{returnUrl} -> {answer.Location}");
            }
        }

        Assert.Empty(followed);

        // A local path (here with a query) is kept as it is.
        var local = await form.PostAsync(email, password, "/account/password?from=login");
        Assert.Equal(HttpStatusCode.Redirect, local.Status);
        Assert.Equal("/account/password?from=login", local.Location);
    }
}
