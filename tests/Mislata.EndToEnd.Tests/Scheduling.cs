using System.Reflection;
using Xunit.Abstractions;

[assembly: CollectionBehavior(MaxParallelThreads = Mislata.EndToEnd.Tests.Scheduling.Lanes)]
[assembly: TestCollectionOrderer("Mislata.EndToEnd.Tests.LongestFirstOrderer", "Mislata.EndToEnd.Tests")]

namespace Mislata.EndToEnd.Tests;

/// <summary>
/// How the end-to-end collections share the machine. xUnit's default (conservative) algorithm runs at most
/// <see cref="Lanes"/> collections at once and starts the next one, in <see cref="LongestFirstOrderer"/>'s order, when
/// one finishes; collections with <c>DisableParallelization</c> (the latency measurements) run alone afterwards.
/// Much of a collection's time is waiting (services starting, timers, outages), so three lanes keep a 2-core machine
/// busier than two without changing what any test does.
/// </summary>
public static class Scheduling
{
    public const int Lanes = 3;
}

/// <summary>
/// A rough wall time in seconds of a test class or a collection (on its definition class) in a full run, fixture
/// start-up included: <see cref="LongestFirstOrderer"/> starts the longest collections first, so that none of them
/// begins near the end and leaves the other lanes idle. A scheduling hint only; nothing is asserted on it.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ExpectedSecondsAttribute(int seconds) : Attribute
{
    public int Seconds { get; } = seconds;
}

/// <summary>Orders the test collections by <see cref="ExpectedSecondsAttribute"/>, longest first, the rest by name.</summary>
public sealed class LongestFirstOrderer : ITestCollectionOrderer
{
    private const string PerClassPrefix = "Test collection for ";

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderByDescending(Seconds).ThenBy(c => c.DisplayName, StringComparer.Ordinal);

    private static int Seconds(ITestCollection collection)
    {
        // A [CollectionDefinition] class carries its hint; a class without [Collection] is a collection of its own,
        // named after it ("Test collection for Namespace.Class", possibly followed by " (id: …)").
        var type = (collection.CollectionDefinition as IReflectionTypeInfo)?.Type ?? PerClassType(collection.DisplayName);
        return type?.GetCustomAttribute<ExpectedSecondsAttribute>()?.Seconds ?? 0;
    }

    private static Type? PerClassType(string displayName)
    {
        if (!displayName.StartsWith(PerClassPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var name = displayName[PerClassPrefix.Length..];
        var end = name.IndexOf(' ', StringComparison.Ordinal);
        return typeof(LongestFirstOrderer).Assembly.GetType(end < 0 ? name : name[..end]);
    }
}
