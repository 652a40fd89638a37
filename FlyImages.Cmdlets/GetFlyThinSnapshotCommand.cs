using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Lists the thin snapshots (activated images) of this host.</para>
/// <para type="description">Writes a ThinSnapshot for each snapshot the store records and has not removed: Name, Image,
/// Source, ChainId, Device, DevicePath (the block device a micro-VM boots from), State (Pending, Creating, Activating,
/// Active, Removing, Failed) and CreatedAt. Reads only: no pool is opened and no store is created.</para>
/// <para type="description">A -Name without wildcards that matches nothing writes a non-terminating SnapshotNotFound
/// error.</para>
/// </summary>
/// <example>
/// <code>Get-FlyThinSnapshot</code>
/// <para>Every snapshot of the default store.</para>
/// </example>
/// <example>
/// <code>Get-FlyThinSnapshot -Image golang | Remove-FlyThinSnapshot</code>
/// <para>The snapshots of golang, removed (after a confirmation prompt).</para>
/// </example>
/// <example>
/// <code>Get-FlyThinSnapshot web-* | Where-Object State -ne 'Active'</code>
/// <para>The snapshots whose names start with 'web-' that are not active, e.g. one left Failed.</para>
/// </example>
/// <seealso cref="NewFlyThinSnapshotCommand"/>
/// <seealso cref="RemoveFlyThinSnapshotCommand"/>
[Cmdlet(VerbsCommon.Get, "FlyThinSnapshot")]
[OutputType(typeof(ThinSnapshot))]
public sealed class GetFlyThinSnapshotCommand : SnapshotCmdlet
{
    private readonly HashSet<long> written = [];

    /// <summary>Snapshot names; wildcards allowed, case-insensitive. Default: every snapshot.</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>
    /// Only snapshots of these images; wildcards allowed, case-insensitive. Default: every image. Binds by property
    /// name from piped objects with an Image (or ImageName) property, such as snapshots.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ImageName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Image { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<ThinSnapshot> all;
        try
        {
            all = ListSnapshots();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, ResolvedStorePath);
            throw;
        }

        var ofImages = new NameMatcher(Image);
        var (matched, missing) = new NameMatcher(Name).Select(all.Where(s => ofImages.IsMatch(s.Image)), s => s.Name);
        foreach (var snapshot in matched)
        {
            // each snapshot once per command, however many patterns (or piped images) match it
            if (written.Add(snapshot.Id))
            {
                WriteObject(snapshot);
            }
        }

        foreach (var name in missing)
        {
            WriteFlyError(new FlyException(ErrorIds.SnapshotNotFound, FlyErrorCategory.ObjectNotFound, $"No thin snapshot named '{name}'.", name), name);
        }
    }
}
