using System.Globalization;
using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

/// <summary>A real install in a child process, so a test can SIGKILL it at a known point and check what the next run does.</summary>
internal static class RealInstall
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var store = FlyStore.Open(options["store"]);
        var context = new PrintingContext();
        var installer = await ImageInstaller.OpenAsync(store, new InstallOptions
        {
            DeviceSize = long.Parse(options.GetValueOrDefault("device-size", (256L << 20).ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
        }, context, options["pool"]);
        using var source = ImageSourceFactory.Create(new SourceOptions { Source = options["source"], Endpoint = options["endpoint"] }, context);
        var image = (await ImageCatalog.ListAsync(source, store, context)).Single(i => i.Name == options["image"]);
        var result = await installer.InstallAsync(source, image, context);
        Console.Out.WriteLine($"READY {result.State}");
        Console.Out.Flush();
        return 0;
    }

    /// <summary>Prints each update of the image's bar (activity 1) and each mount as one line, flushed at once.</summary>
    private sealed class PrintingContext : IOperationContext
    {
        private readonly object gate = new();

        public CancellationToken CancellationToken => CancellationToken.None;

        public bool ShouldProcess(string target, string action) => true;

        public void WriteDebug(string message)
        {
        }

        public void WriteProgress(ProgressReport report)
        {
            if (report.ActivityId == 1 && !report.Completed)
            {
                lock (gate)
                {
                    Console.Out.WriteLine("PROGRESS " + report.Status);
                    Console.Out.Flush();
                }
            }
        }

        public void WriteVerbose(string message)
        {
            // a test can kill the agent while a layer device is mounted
            if (message.StartsWith("Mounted '", StringComparison.Ordinal))
            {
                lock (gate)
                {
                    Console.Out.WriteLine("MOUNTED " + message);
                    Console.Out.Flush();
                }
            }
        }

        public void WriteWarning(string message)
        {
        }
    }
}
