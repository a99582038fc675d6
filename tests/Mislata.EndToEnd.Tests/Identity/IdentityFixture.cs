namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>One platform with two identity replicas behind the gateway, shared by the identity tests.</summary>
public sealed class IdentityFixture : IAsyncLifetime
{
    private MislataStack? _stack;

    public MislataStack Stack => _stack ?? throw new InvalidOperationException("the stack is not started");

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync(new StackOptions { IdentityReplicas = 2 });

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }
}

[ExpectedSeconds(115)]
[CollectionDefinition(Name)]
public sealed class IdentityCollection : ICollectionFixture<IdentityFixture>
{
    public const string Name = "identity";
}
