using Microsoft.Extensions.Logging;
using Mislata.Infrastructure.Health;

namespace Mislata.Infrastructure.Tests.Dependencies;

/// <summary>
/// A background loop's round may fail with anything during an outage; it must never end the loop (an exception out of a
/// hosted service stops the process), and it must say so once per run of failures, not once a second.
/// </summary>
public sealed class BackgroundRoundsTests
{
    private readonly Captured _log = new();

    [Fact]
    public async Task A_failing_round_of_any_exception_type_is_reported_once_per_run_of_failures_and_the_next_success_once()
    {
        var rounds = new BackgroundRounds(_log, "usage flush");
        Exception[] failures =
        [
            new InvalidOperationException("transient failure", new Npgsql.NpgsqlException("refused")),
            new Npgsql.NpgsqlException("circuit open"),
            new TimeoutException(),
            new ObjectDisposedException("pool"),
        ];

        foreach (var failure in failures)
        {
            Assert.False(await rounds.RunAsync(_ => Task.FromException(failure), CancellationToken.None));
            Assert.True(rounds.Failing);
        }

        var warning = Assert.Single(_log.Entries);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("usage flush", warning.Message, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException", warning.Message, StringComparison.Ordinal);
        Assert.Contains("Npgsql.NpgsqlException", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("refused", warning.Message, StringComparison.Ordinal);

        Assert.True(await rounds.RunAsync(_ => Task.CompletedTask, CancellationToken.None));
        Assert.False(rounds.Failing);
        Assert.Equal(2, _log.Entries.Count);
        Assert.Equal(LogLevel.Information, _log.Entries[1].Level);
        Assert.True(await rounds.RunAsync(_ => Task.CompletedTask, CancellationToken.None));
        Assert.Equal(2, _log.Entries.Count);

        Assert.False(await rounds.RunAsync(_ => throw new TimeoutException(), CancellationToken.None));
        Assert.Equal(3, _log.Entries.Count);
    }

    [Fact]
    public async Task Shutdown_cancellation_passes_through_but_a_cancellation_that_is_not_shutdown_is_a_failed_round()
    {
        var rounds = new BackgroundRounds(_log, "probe");
        using var stopping = new CancellationTokenSource();

        Assert.False(await rounds.RunAsync(_ => throw new TaskCanceledException("a command timed out"), stopping.Token));

        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rounds.RunAsync(ct => Task.FromCanceled(ct), stopping.Token));
    }

    [Fact]
    public async Task The_round_gets_the_stopping_token()
    {
        var rounds = new BackgroundRounds(_log, "probe");
        using var stopping = new CancellationTokenSource();
        CancellationToken seen = default;
        Assert.True(await rounds.RunAsync(ct => { seen = ct; return Task.CompletedTask; }, stopping.Token));
        Assert.Equal(stopping.Token, seen);
    }

    private sealed class Captured : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception) + (exception is null ? string.Empty : " " + exception)));
    }
}
