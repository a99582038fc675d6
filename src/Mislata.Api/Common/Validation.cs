using System.Net;
using System.Net.Mail;
using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Common;

/// <summary>Collects field errors; <see cref="Problem"/> is the 400 validation_failed answer when any.</summary>
internal sealed class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public IEnumerable<(string Field, IReadOnlyList<string> Messages)> Messages => _errors.Select(e => (e.Key, (IReadOnlyList<string>)e.Value));

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    public ProblemHttpResult Problem() =>
        Mislata.ServiceDefaults.Problems.Problem.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));

    /// <summary>A required (or, with <paramref name="required"/> false, optional) display name of 1..max characters without control characters.</summary>
    public string? Name(string field, string? value, bool required = true, int max = 200)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, "is required.");
            }

            return null;
        }

        var trimmed = value.Trim();
        if (trimmed.Length == 0 || trimmed.Length > max)
        {
            Add(field, $"must be 1 to {max} characters.");
            return null;
        }

        if (trimmed.Any(char.IsControl))
        {
            Add(field, "must not contain control characters.");
            return null;
        }

        return trimmed;
    }

    public string? Email(string field, string? value)
    {
        if (value is null)
        {
            return null;
        }

        var trimmed = value.Trim();
        if (trimmed.Length is 0 or > 254 || !MailAddress.TryCreate(trimmed, out var address) || address.Address != trimmed)
        {
            Add(field, "must be an email address.");
            return null;
        }

        return trimmed;
    }

    public void Range(string field, long? value, long min, long max)
    {
        if (value is { } v && (v < min || v > max))
        {
            Add(field, $"must be between {min} and {max}.");
        }
    }

    /// <summary>CIDR networks (a bare address is taken as /32 or /128), normalised.</summary>
    public List<string> Networks(string field, IReadOnlyList<string?>? values, int max = 50)
    {
        var result = new List<string>();
        if (values is null)
        {
            return result;
        }

        if (values.Count > max)
        {
            Add(field, $"must have at most {max} entries.");
            return result;
        }

        foreach (var value in values)
        {
            if (value is { Length: > 0 and <= 64 } && IPNetwork.TryParse(value.Trim(), out var network))
            {
                result.Add(network.ToString());
            }
            else if (value is { Length: > 0 and <= 64 } && IPAddress.TryParse(value.Trim(), out var address) && !value.Contains('/', StringComparison.Ordinal))
            {
                result.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128).ToString());
            }
            else
            {
                Add(field, $"'{Truncate(value)}' is not a CIDR network (e.g. 10.0.0.0/8).");
            }
        }

        return [.. result.Distinct(StringComparer.Ordinal)];
    }

    private static string Truncate(string? value) => value is null ? "null" : value.Length <= 64 ? value : value[..64] + "…";
}

/// <summary><c>?limit=1..100 (default 50)&amp;cursor=…</c>; the cursor is the last id of the previous page.</summary>
internal static class Paging
{
    public static bool TryRead(int? limit, string? cursor, out int take, out Guid? after, out ProblemHttpResult? problem)
    {
        take = limit ?? 50;
        after = null;
        problem = null;
        if (take is < 1 or > 100)
        {
            problem = Problem.Validation(new Dictionary<string, string[]> { ["limit"] = ["must be between 1 and 100."] });
            return false;
        }

        if (!string.IsNullOrEmpty(cursor))
        {
            if (!Guid.TryParseExact(cursor, "N", out var id))
            {
                problem = Problem.Of(400, ErrorCodes.InvalidRequest, "Invalid cursor", "The cursor is not one this API returned.");
                return false;
            }

            after = id;
        }

        return true;
    }

    public static Page<TOut> Page<TIn, TOut>(List<TIn> rows, int take, Func<TIn, Guid> id, Func<TIn, TOut> map) =>
        new([.. rows.Take(take).Select(map)], rows.Count > take ? id(rows[take - 1]).ToString("N") : null);
}

/// <summary>API.md list shape: <c>{data, nextCursor}</c>.</summary>
public sealed record Page<T>(IReadOnlyList<T> Data, string? NextCursor);
