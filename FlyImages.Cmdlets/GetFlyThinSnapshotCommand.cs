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

        var images = (Image ?? ["*"]).Select(i => WildcardPattern.Get(i, WildcardOptions.IgnoreCase)).ToList();
        foreach (var pattern in Name ?? ["*"])
        {
            var wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
            var matched = all.Where(s => wildcard.IsMatch(s.Name) && images.Any(i => i.IsMatch(s.Image))).ToList();
            matched.ForEach(WriteObject);
            if (matched.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                WriteFlyError(new FlyException(ErrorIds.SnapshotNotFound, FlyErrorCategory.ObjectNotFound, $"No thin snapshot named '{pattern}'.", pattern), pattern);
            }
        }
    }
}
