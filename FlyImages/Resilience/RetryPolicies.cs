using Polly;
using Polly.Retry;

namespace FlyImages.Resilience;

/// <summary>
/// Bounded retries with exponential backoff and jitter (Polly). Callers say which failures are
/// transient; everything else fails at once.
/// </summary>
public static class RetryPolicies
{
    public static ResiliencePipeline Create(int maxAttempts, TimeSpan baseDelay, Func<Exception, bool> isTransient, Action<int, Exception, TimeSpan>? onRetry = null)
    {
        if (maxAttempts <= 1)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = maxAttempts - 1,
                Delay = baseDelay,
                MaxDelay = TimeSpan.FromSeconds(10),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(isTransient),
                OnRetry = args =>
                {
                    if (args.Outcome.Exception is { } e)
                    {
                        onRetry?.Invoke(args.AttemptNumber + 1, e, args.RetryDelay);
                    }

                    return default;
                },
            })
            .Build();
    }
}
