using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mislata.Cli;

/// <summary>Results on stdout: a human table (default) or JSON (<c>--output json</c>); messages and progress on stderr.</summary>
internal sealed class Output(bool json)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public bool IsJson => json;

    /// <summary>A single object (key/value rows) or a list (one row per item, <paramref name="columns"/> or every scalar member).</summary>
    public void Write(object? value, params string[] columns)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(value, value?.GetType() ?? typeof(object), Json));
            return;
        }

        switch (value)
        {
            case null:
                return;
            case string s:
                Console.Out.WriteLine(s);
                return;
        }

        var data = value.GetType().GetProperty("Data")?.GetValue(value) as IEnumerable ?? (value as IEnumerable);
        if (data is not null)
        {
            var items = data.Cast<object>().ToList();
            WriteTable(items, columns);
            if (value.GetType().GetProperty("NextCursor")?.GetValue(value) is string cursor)
            {
                Console.Error.WriteLine($"(more: --cursor {cursor})");
            }

            return;
        }

        var rows = Scalars(value.GetType()).Select(p => new[] { Camel(p.Name), Text(p.GetValue(value)) }).ToList();
        var width = rows.Count == 0 ? 0 : rows.Max(r => r[0].Length);
        foreach (var row in rows)
        {
            Console.Out.WriteLine(row[0].PadRight(width) + "  " + row[1]);
        }
    }

    private static void WriteTable(List<object> items, string[] columns)
    {
        if (items.Count == 0)
        {
            Console.Error.WriteLine("(none)");
            return;
        }

        var props = Scalars(items[0].GetType()).Where(p => columns.Length == 0 || columns.Contains(Camel(p.Name), StringComparer.Ordinal)).ToList();
        if (columns.Length > 0)
        {
            props = [.. columns.Select(c => props.FirstOrDefault(p => Camel(p.Name) == c)).Where(p => p is not null).Cast<PropertyInfo>()];
        }

        var header = props.Select(p => Camel(p.Name).ToUpperInvariant()).ToArray();
        var rows = items.Select(i => props.Select(p => Text(p.GetValue(i))).ToArray()).ToList();
        var widths = header.Select((h, c) => Math.Max(h.Length, rows.Max(r => r[c].Length))).ToArray();
        Console.Out.WriteLine(string.Join("  ", header.Select((h, c) => h.PadRight(widths[c]))).TrimEnd());
        foreach (var row in rows)
        {
            Console.Out.WriteLine(string.Join("  ", row.Select((v, c) => v.PadRight(widths[c]))).TrimEnd());
        }
    }

    private static IEnumerable<PropertyInfo> Scalars(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract");

    private static string Camel(string name) => char.ToLowerInvariant(name[0]) + name[1..];

    private static string Text(object? value) => value switch
    {
        null => "",
        string s => s.Length > 80 ? s[..77] + "…" : s,
        DateTimeOffset d => d.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        JsonElement e => e.ValueKind == JsonValueKind.Undefined ? "" : Shorten(e.GetRawText()),
        IDictionary d => string.Join(",", d.Keys.Cast<object>().Select(k => $"{k}={d[k]}")),
        IEnumerable list => string.Join(",", list.Cast<object>().Select(o => o is IFormattable or string ? Text(o) : (o.GetType().GetProperty("Version")?.GetValue(o)?.ToString() ?? "…"))),
        _ => value.ToString() ?? "",
    };

    private static string Shorten(string s) => s.Length > 80 ? s[..77] + "…" : s;
}

/// <summary>A progress bar on stderr (only when stderr is a terminal, or with <c>--progress</c>): bytes, percent when the size is known, MB/s.</summary>
internal sealed class ProgressBar(long? total, bool enabled) : IProgress<long>
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private long _lastDraw = -1;

    public void Report(long value)
    {
        if (!enabled)
        {
            return;
        }

        var now = _watch.ElapsedMilliseconds;
        if (now - _lastDraw < 200 && value != total)
        {
            return;
        }

        _lastDraw = now;
        var mbps = value / 1e6 / Math.Max(_watch.Elapsed.TotalSeconds, 1e-3);
        var sb = new StringBuilder("\r");
        if (total is > 0 and var t)
        {
            var fraction = Math.Min(1.0, (double)value / t);
            var filled = (int)(fraction * 30);
            sb.Append('[').Append('#', filled).Append('.', 30 - filled).Append("] ").Append((fraction * 100).ToString("0", CultureInfo.InvariantCulture)).Append("% ");
        }

        sb.Append((value / 1e6).ToString("0.0", CultureInfo.InvariantCulture)).Append(" MB ").Append(mbps.ToString("0.0", CultureInfo.InvariantCulture)).Append(" MB/s   ");
        Console.Error.Write(sb.ToString());
    }

    public void Done()
    {
        if (enabled)
        {
            Console.Error.WriteLine();
        }
    }
}
