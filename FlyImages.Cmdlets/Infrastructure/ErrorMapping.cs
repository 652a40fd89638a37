using System.Management.Automation;
using FlyImages.Errors;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>Turns core exceptions into ErrorRecords: stable id, the right category, the target, no stack trace.</summary>
public static class ErrorMapping
{
    public static ErrorRecord ToErrorRecord(Exception exception, object? target = null)
    {
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        switch (exception)
        {
            case FlyException fly:
            {
                var record = new ErrorRecord(fly, fly.ErrorId, Map(fly.Category), fly.Target ?? target);
                if (fly.RecommendedAction is not null)
                {
                    record.ErrorDetails = new ErrorDetails(fly.Message) { RecommendedAction = fly.RecommendedAction };
                }

                return record;
            }

            case OperationCanceledException:
                return new ErrorRecord(exception, ErrorIds.OperationCanceled, ErrorCategory.OperationStopped, target);
            case UnauthorizedAccessException:
                return new ErrorRecord(exception, ErrorIds.UnexpectedError, ErrorCategory.PermissionDenied, target);
            case IOException:
                return new ErrorRecord(exception, ErrorIds.UnexpectedError, ErrorCategory.WriteError, target);
            default:
                return new ErrorRecord(exception, ErrorIds.UnexpectedError, ErrorCategory.NotSpecified, target);
        }
    }

    public static ErrorCategory Map(FlyErrorCategory category)
        => Enum.TryParse<ErrorCategory>(category.ToString(), out var mapped) ? mapped : ErrorCategory.NotSpecified;
}
