using FlyImages.Errors;
using FlyImages.Lifecycle;
using FlyImages.Operations;
using FlyImages.State;

/// <summary>
/// A real Remove-FlyImage in a child process: prints "STEP &lt;name&gt;" after each durable step (a test SIGKILLs it after the n-th),
/// then "REMOVED"; "NOTFOUND" (exit 4) when the store records no such image. --keep-blobs 1 keeps the blobs.
/// </summary>
internal static class RealRemove
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var store = FlyStore.Open(options["store"]);
        try
        {
            var result = await new ImageRemoval(store).RemoveAsync(options["source"], options["image"], new ImageRemovalOptions
            {
                KeepBlobs = options.GetValueOrDefault("keep-blobs") == "1",
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
        catch (FlyException e) when (e.ErrorId == ErrorIds.ImageNotFound)
        {
            Console.Out.WriteLine("NOTFOUND");
            Console.Out.Flush();
            return 4;
        }
    }
}
