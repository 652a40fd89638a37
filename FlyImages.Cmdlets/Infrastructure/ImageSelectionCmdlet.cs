using System.Management.Automation;
using FlyImages.Model;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Cmdlets that act on images picked by name from a source, or piped from Get-FlyImage
/// (<c>Get-FlyImage go* | Save-FlyImage</c>, <c>... | Install-FlyImage</c>), share these two parameter sets.
/// </summary>
public abstract class ImageSelectionCmdlet : SourceCmdlet
{
    public const string NameSet = "Name";
    public const string InputObjectSet = "InputObject";

    /// <summary>
    /// Names of the images in -Source; wildcards allowed, case-insensitive. A name without wildcards that matches
    /// nothing is a non-terminating ImageNotFound error. Binds from the pipeline: strings, or objects with a Name
    /// property.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = NameSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>
    /// Images from Get-FlyImage; each is taken from the source it names, through the endpoint, region and credential
    /// choice it was listed with (parameters given here win; a -Credential is never carried).
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public Image[] InputObject { get; set; } = [];
}
