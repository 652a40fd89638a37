using System.Management.Automation;
using FlyImages.Engine;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>Get-FlyImageEvent -Wait: polls the journal by id and writes new matching events until Ctrl+C.</summary>
internal static class EventFollower
{
    public static void Follow(GetFlyImageEventCommand cmdlet, long from, IReadOnlyList<Func<WorkflowEvent, bool>> filters, TimeSpan interval)
    {
        var last = from;
        while (true)
        {
            // wait on the cancellation token: Ctrl+C ends the wait at once
            if (cmdlet.FollowToken.WaitHandle.WaitOne(interval))
            {
                throw new PipelineStoppedException();
            }

            var store = cmdlet.StoreForFollowing();
            if (store is null)
            {
                continue;
            }

            IReadOnlyList<WorkflowEvent> batch;
            do
            {
                batch = WorkflowEvents.After(store, last);
                foreach (var e in batch)
                {
                    last = e.Id;
                    if (filters.Count == 0 || filters.Any(f => f(e)))
                    {
                        cmdlet.WriteObject(e);
                    }
                }
            }
            while (batch.Count > 0 && !cmdlet.FollowToken.IsCancellationRequested);
        }
    }
}
