using FlyImages.Resilience;
using Polly;

namespace FlyImages.Workflows;

/// <summary>Runs one step with bounded Polly retries of its transient failures; the rest fail at once.</summary>
internal static class StepRetry
{
    public static async Task<T> RunAsync<T>(WorkflowOptions options, StepContext context, string what, Func<StepContext, Task<T>> step)
    {
        var attempt = 0;
        var pipeline = RetryPolicies.Create(options.MaxAttempts, options.RetryBaseDelay,
            e => e is not OperationCanceledException && options.Classify(e) == StepFailureKind.Transient,
            (n, e, delay) => context.Operation.WriteVerbose($"{what}: attempt {n - 1} failed ({e.Message}); attempt {n} of {options.MaxAttempts} in {delay.TotalMilliseconds:0} ms."));
        return await pipeline.ExecuteAsync(async token =>
        {
            attempt++;
            return await step(context with { CancellationToken = token, Attempt = attempt }).ConfigureAwait(false);
        }, context.CancellationToken).ConfigureAwait(false);
    }

    public static Task RunAsync(WorkflowOptions options, StepContext context, string what, Func<StepContext, Task> step)
        => RunAsync<object?>(options, context, what, async c =>
        {
            await step(c).ConfigureAwait(false);
            return null;
        });
}
