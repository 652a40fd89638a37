using FlyImages.Model;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// What the format views (*.Format.ps1xml) call. It lives in the cmdlet assembly because PowerShell
/// resolves type literals only in the default load context, and the core lives in the module's own
/// one (see <see cref="DependencyIsolation"/>): views use <c>[FlyImages.Cmdlets.Infrastructure.Display]::Bytes(...)</c>.
/// </summary>
public static class Display
{
    /// <summary>A byte count in human units (KiB, MiB...).</summary>
    public static string Bytes(long bytes) => ByteSize.Format(bytes);
}
