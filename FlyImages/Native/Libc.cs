using System.Runtime.InteropServices;

namespace FlyImages.Native;

/// <summary>
/// libc entry points shared by several areas. Areas that need many more calls keep them in their own
/// partial file (Libc.&lt;Area&gt;.cs) so each concern has one place.
/// </summary>
internal static partial class Libc
{
    private const string LibcName = "libc";

    [LibraryImport(LibcName)]
    internal static partial uint geteuid();

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int getpid();
}
