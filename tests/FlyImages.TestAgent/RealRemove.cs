using FlyImages.Lifecycle;
using FlyImages.Operations;
using FlyImages.State;

/// <summary>A real Remove-FlyImage in a child process: prints "STEP &lt;name&gt;" after each durable step (a test SIGKILLs it after the n-th), then "REMOVED".</summary>
internal static class RealRemove
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var store = FlyStore.Open(options["store"]);
        var result = await new ImageRemoval(store).RemoveAsync(options["source"], options["image"], new ImageRemovalOptions
        {
            OnStep = step =>
            {
                Console.Out.WriteLine($"STEP {step}");
                Console.Out.Flush();
            },
        }, NullOperationContext.Instance);
        Console.Out.WriteLine($"REMOVED {result}");
        Console.Out.Flush();
        return 0;
    }
}
