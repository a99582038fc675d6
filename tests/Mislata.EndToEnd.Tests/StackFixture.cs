namespace Mislata.EndToEnd.Tests;

/// <summary>One running platform shared by the tests of the "stack" collection.</summary>
public sealed class StackFixture : IAsyncLifetime
{
    private MislataStack? _stack;

    public MislataStack Stack => _stack ?? throw new InvalidOperationException("the stack is not started");

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync();

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<StackFixture>
{
    public const string Name = "stack";
}
