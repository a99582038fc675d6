using System.Reflection;

namespace Mislata.Identity.Tests.Server;

/// <summary>
/// A hand-rolled stand-in for one of OpenIddict's manager interfaces (dozens of members, of which a handler calls two or
/// three): each call is recorded; a member without an answer set by the test throws, so nothing passes by accident.
/// </summary>
public class Fake<T> : DispatchProxy
    where T : class
{
    private readonly Dictionary<string, Func<object?[], object?>> _answers = new(StringComparer.Ordinal);
    private readonly List<(string Method, object?[] Arguments)> _calls = [];

    public IReadOnlyList<(string Method, object?[] Arguments)> Calls => _calls;

    public static (T Instance, Fake<T> Fake) Create()
    {
        var instance = DispatchProxy.Create<T, Fake<T>>();
        return (instance, (Fake<T>)(object)instance);
    }

    /// <summary>Answers every call of <paramref name="method"/> (any overload) with <paramref name="answer"/>.</summary>
    public Fake<T> On(string method, Func<object?[], object?> answer)
    {
        _answers[method] = answer;
        return this;
    }

    public int CountOf(string method) => _calls.Count(c => c.Method == method);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        _calls.Add((targetMethod.Name, args ?? []));
        return _answers.TryGetValue(targetMethod.Name, out var answer)
            ? answer(args ?? [])
            : throw new NotSupportedException($"{typeof(T).Name}.{targetMethod.Name} was not expected in this test.");
    }
}
