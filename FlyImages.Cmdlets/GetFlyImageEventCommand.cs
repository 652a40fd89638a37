using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Engine;
using FlyImages.State;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Shows the journal of image workflows: what happened to an image, when, and why.</para>
/// <para type="description">Every state change of an install (and of the layer chains and snapshots it made) is
/// journaled in the store in the same transaction as the change: time, image, kind, run id, from, to, trigger,
/// detail or error, time spent in the previous state, host and process id. Entries come oldest first
/// (newest last), as WorkflowEvent objects.</para>
/// <para type="description">Reads only; without a store there are no entries. A -Name typed without wildcards that has no
/// journal entries writes a non-terminating ImageNotFound error; piped names that have none produce nothing.</para>
/// </summary>
/// <example>
/// <code>Get-FlyImageEvent golang -Last 10</code>
/// <para>The ten newest entries of golang's workflows, oldest first.</para>
/// </example>
/// <example>
/// <code>Get-FlyImage -Installed | Where-Object State -eq 'Failed' | Get-FlyImageEvent -Last 3</code>
/// <para>For each image whose last install failed, its three newest entries: the Error column says what failed. Name and
/// Source bind from the piped images by property name.</para>
/// </example>
/// <example>
/// <code>Get-FlyImageEvent -Kind snapshot | Where-Object To -eq 'Failed'</code>
/// <para>Every snapshot workflow step that ended Failed, on any image.</para>
/// </example>
/// <example>
/// <code>Get-FlyImageEvent -Kind lifecycle -Last 20</code>
/// <para>The newest removals and collections: each image removed, each orphan collected ("(orphans)") and each collection
/// ("(collection)"), with its trigger in the From column and what it freed in the message.</para>
/// </example>
/// <example>
/// <code>Get-FlyImageEvent -RunId (Get-FlyImage -Installed node).FailedRunId</code>
/// <para>The timeline of the run in which node failed: each transition with the time spent in the state it left (Took).</para>
/// </example>
/// <example>
/// <code>Get-FlyImageEvent -Wait -Kind install-image</code>
/// <para>Shows the install events so far, then follows new ones as any process writes them, until Ctrl+C.</para>
/// </example>
/// <seealso cref="GetFlyImageCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
/// <seealso cref="NewFlyThinSnapshotCommand"/>
[Cmdlet(VerbsCommon.Get, "FlyImageEvent", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(WorkflowEvent))]
public sealed class GetFlyImageEventCommand : FlyCmdlet
{
    public const string DefaultSet = "Default";

    private readonly HashSet<long> written = [];

    /// <summary>
    /// Image names; wildcards allowed, case-insensitive. Default: every image. A name typed without wildcards that has
    /// no journal entries is a non-terminating ImageNotFound error; piped names that have none produce nothing. Binds
    /// from the pipeline: strings, or objects with a Name property.
    /// </summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>
    /// Only events of images from this source, as Get-FlyImage shows it (e.g. s3://bucket/images, file:///srv/images).
    /// Default: every source. Binds from piped images by property name.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>
    /// Only events of this workflow kind: install-image, make-chain or snapshot; or lifecycle: image removals, orphans and
    /// collections, with their trigger (Remove-FlyImage, high-use, max-age, orphan, collection) and what they freed. Default: every kind.
    /// </summary>
    [Parameter]
    [ValidateSet(WorkflowKinds.InstallImage, WorkflowKinds.MakeChain, WorkflowKinds.Snapshot, WorkflowKinds.Lifecycle)]
    public string? Kind { get; set; }

    /// <summary>
    /// Only events of this run (the RunId column: each attempt at an install, a layer chain or a snapshot is one run).
    /// Default: every run.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RunId { get; set; }

    /// <summary>
    /// Only the newest N events (still shown oldest first), per input: at least 1. Default: every event.
    /// </summary>
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
        var matcher = new NameMatcher(Name);
        try
        {
            var current = ExistingStore();
            if (current is not null)
            {
                followFrom = Math.Max(followFrom, WorkflowEvents.NewestId(current));
                events = WorkflowEvents.Query(current, matcher.IsMatch, CanonicalSource(), Kind, RunId, Last);
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, StorePath);
            throw;
        }

        var (matched, missing) = matcher.Select(events, e => e.Image);
        foreach (var e in matched.Where(e => written.Add(e.Id)))
        {
            WriteObject(e);
            followFrom = Math.Max(followFrom, e.Id);
        }

        var source = CanonicalSource();
        var (kind, runId) = (Kind, RunId);
        followFilters.Add(e => matcher.IsMatch(e.Image) && (source is null || e.Source == source) && (kind is null || e.Kind == kind) && (runId is null || e.RunId == runId));

        if (MyInvocation.ExpectingInput)
        {
            return;
        }

        foreach (var text in missing)
        {
            WriteFlyError(new Errors.FlyException(Errors.ErrorIds.ImageNotFound, Errors.FlyErrorCategory.ObjectNotFound,
                $"The journal of the store '{ResolvedStorePath}' has no entries for an image named '{text}'{(Kind is null && RunId is null && Source is null ? "" : " matching the filters")}.", text)
            {
                RecommendedAction = "Run Get-FlyImageEvent without -Name to see which images have entries.",
            }, text);
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
            return SourceResolver.Canonical(this, Source);
        }
        catch (Errors.FlyException)
        {
            return Source;
        }
    }

}
