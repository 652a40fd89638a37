using System.Diagnostics;
using System.Globalization;
using FlyImages.Errors;
using FlyImages.Unpacking;

// usage: UnpackRunner <destination> <layer> [<layer>...]
// Applies each layer in order and prints one line per layer: seconds, entries, bytes written.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: UnpackRunner <destination> <layer> [<layer>...]");
    return 2;
}

var destination = args[0];
try
{
    foreach (var layer in args.Skip(1))
    {
        var watch = Stopwatch.StartNew();
        var result = LayerUnpacker.Apply(layer, destination);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{watch.Elapsed.TotalSeconds:0.000}s entries={result.Entries} files={result.Files} dirs={result.Directories} symlinks={result.Symlinks} hardlinks={result.HardLinks} bytes={result.BytesWritten} xattrs={result.XattrsApplied} skipped={result.SkippedCount} warnings={result.Warnings.Count} {layer}"));
        foreach (var warning in result.Warnings.Take(5))
        {
            Console.Error.WriteLine("warning: " + warning);
        }
    }

    return 0;
}
catch (FlyException e)
{
    Console.Error.WriteLine($"{e.ErrorId}: {e.Message}");
    return 1;
}
