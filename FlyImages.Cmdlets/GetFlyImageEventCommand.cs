using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Shows the journal of image workflows: what happened to an image, when, and why.</para>
/// <para type="description">Every state change of an install (and of the layer chains and snapshots it made) is
/// journaled in the store in the same transaction as the change: time, image, run id, from, to, trigger,
/// detail or error, time spent in the previous state, host and process id. Entries come oldest first
/// (newest last).</para>
/// </summary>
/// <example><code>Get-FlyImageEvent golang -Last 10</code></example>
/// <example><code>Get-FlyImage -Installed | Where-Object State -eq Failed | Get-FlyImageEvent -Last 3</code></example>
/// <example>
/// <code>Get-FlyImageEvent -RunId (Get-FlyImage -Installed node).FailedRunId</code>
/// <para>The timeline of the run in which node failed: each transition with the time spent in the state it left (Took).</para>
/// </example>
/// <example>
/// <code>Get-FlyImageEvent -Wait -Kind install-image</code>
/// <para>Shows the install events so far, then follows new ones as any process writes them, until Ctrl+C.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "FlyImageEvent", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(WorkflowEvent))]
public sealed class GetFlyImageEventCommand : FlyCmdlet
{
    public const string DefaultSet = "Default";


    /// <summary>Image names; wildcards allowed. Default: every image. A name typed without wildcards that has no
    /// journal entries is an error (ImageNotFound); piped names that have none produce nothing.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Only events of images from this source (as Get-FlyImage shows it, e.g. s3://bucket/images). Binds from piped images.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>Only events of this workflow kind: install-image, make-chain or snapshot.</summary>
    [Parameter]
    [ValidateSet(WorkflowKinds.InstallImage, WorkflowKinds.MakeChain, WorkflowKinds.Snapshot)]
    public string? Kind { get; set; }

    /// <summary>Only events of this run.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RunId { get; set; }

    /// <summary>Only the newest N events (still shown oldest first), per input.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    /// <summary>
    /// After the events so far, follow the journal: new events matching the filters are output as they are written
    /// (the journal is polled by id every -PollMilliseconds) until Ctrl+C. Default: off.
    /// </summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <summary>How often -Wait reads the journal for new events, in milliseconds (50 to 60000). Default: 500.</summary>
    [Parameter]
    [ValidateRange(50, 60000)]
    public int PollMilliseconds { get; set; } = 500;

    private long followFrom;
    private FlyStore? followed;
    private readonly List<Func<WorkflowEvent, bool>> followFilters = [];

    protected override void ProcessRecord()
    {
        IReadOnlyList<WorkflowEvent> events = [];
        var patterns = (Name ?? ["*"]).Select(n => (Text: n, Pattern: WildcardPattern.Get(n, WildcardOptions.IgnoreCase))).ToList();
        try
        {
            var current = ExistingStore();
            if (current is not null)
            {
                followFrom = Math.Max(followFrom, Health.FailureDiagnosis.NewestId(current));
                events = WorkflowJournal.Query(current, image => patterns.Any(p => p.Pattern.IsMatch(image)), CanonicalSource(), Kind, RunId, Last);
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, StorePath);
            throw;
        }

        foreach (var e in events)
        {
            WriteObject(e);
            followFrom = Math.Max(followFrom, e.Id);
        }

        var source = CanonicalSource();
        var (kind, runId) = (Kind, RunId);
        followFilters.Add(e => patterns.Any(p => p.Pattern.IsMatch(e.Image)) && (source is null || e.Source == source) && (kind is null || e.Kind == kind) && (runId is null || e.RunId == runId));

        if (MyInvocation.ExpectingInput)
        {
            return;
        }

        foreach (var (text, pattern) in patterns)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(text) && !events.Any(e => pattern.IsMatch(e.Image)))
            {
                WriteFlyError(new Errors.FlyException(Errors.ErrorIds.ImageNotFound, Errors.FlyErrorCategory.ObjectNotFound,
                    $"The journal of the store '{ResolvedStorePath}' has no entries for an image named '{text}'{(Kind is null && RunId is null && Source is null ? "" : " matching the filters")}.", text)
                {
                    RecommendedAction = "Run Get-FlyImageEvent without -Name to see which images have entries.",
                }, text);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (Wait.IsPresent)
        {
            EventFollower.Follow(this, followFrom, followFilters, TimeSpan.FromMilliseconds(PollMilliseconds));
        }
    }

    /// <summary>The store for following (it may appear after the cmdlet started).</summary>
    internal FlyStore? StoreForFollowing() => ExistingStoreOrNull();

    internal CancellationToken FollowToken => StopToken;

    private FlyStore? ExistingStoreOrNull()
    {
        try
        {
            return followed ??= ExistingStore() ?? FlyStore.OpenExisting(ResolvedStorePath);
        }
        catch (Exception e) when (e is not PipelineStoppedException and not OperationCanceledException)
        {
            // not there yet, or being created by another process: the next poll tries again
            return null;
        }
    }

    private string? CanonicalSource()
    {
        if (Source is null)
        {
            return null;
        }

        try
        {
            return SourceSpec.Parse(Source).Uri;
        }
        catch (Errors.FlyException)
        {
            return Source;
        }
    }

}
