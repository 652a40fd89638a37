using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Lists the thin snapshots (activated images) of this host.</para>
/// </summary>
/// <example><code>Get-FlyThinSnapshot -Image golang | Remove-FlyThinSnapshot</code></example>
[Cmdlet(VerbsCommon.Get, "FlyThinSnapshot")]
[OutputType(typeof(ThinSnapshot))]
public sealed class GetFlyThinSnapshotCommand : SnapshotCmdlet
{
    private readonly HashSet<long> written = [];

    /// <summary>Snapshot names; wildcards allowed. Default: all.</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>Only snapshots of these images; wildcards allowed. Binds from Get-FlyImage output by property name.</summary>
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
