using Mislata.Core.Encryption;

namespace Mislata.Worker.Tests.Keys;

/// <summary>The key changes announced to the api replicas (<see cref="IKeyChangeNotifier"/>), in order.</summary>
internal sealed class RecordingKeyChanges : IKeyChangeNotifier
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(Guid TenantId, Guid KeyId)> _changed = new();

    public IReadOnlyList<(Guid TenantId, Guid KeyId)> Changed => [.. _changed];

    public Task KeyChangedAsync(Guid tenantId, Guid keyId)
    {
        _changed.Enqueue((tenantId, keyId));
        return Task.CompletedTask;
    }
}
