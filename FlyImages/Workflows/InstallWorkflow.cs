using System.Text.Json;
using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Workflows;

/// <summary>The outcome of <see cref="InstallWorkflow.RunAsync"/>.</summary>
/// <param name="Image">The image as recorded.</param>
/// <param name="State">The install state after the call.</param>
/// <param name="RunId">The run that did the work, or null when there was nothing to do.</param>
/// <param name="DidWork">False when the image was already Ready (one store lookup) or another process made it Ready while this one waited.</param>
/// <param name="Chains">The image's chains, base first; the last one is the top chain snapshots are made of.</param>
public sealed record InstallResult(Image Image, InstallState State, string? RunId, bool DidWork, IReadOnlyList<LayerChain> Chains);

/// <summary>
/// Installs one image: Pending -> Resolving -> Fetching -> Unpacking -> Ready, persisted (see
/// <see cref="WorkflowMachines.ConfigureInstall"/>), under the image's lease so concurrent installs of
/// one image serialise (the first does the work; the others wait and find it Ready). Layers are
/// fetched in parallel while the chains of fetched layers are being made (Fetching lasts until the
/// last blob is in; Unpacking until the top chain is sealed). Completed steps are recorded and never
/// redone by a later run; chains are shared with other images through <see cref="ChainWorkflow"/>.
/// </summary>
public sealed class InstallWorkflow
{
    private readonly FlyStore store;
    private readonly IInstallSteps steps;
    private readonly WorkflowOptions options;
    private readonly WorkflowRepository workflows;
    private readonly LeaseManager leases;
    private readonly ChainWorkflow chainWorkflow;

    public InstallWorkflow(FlyStore store, IInstallSteps steps, WorkflowOptions? options = null)
    {
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.steps = steps ?? throw new ArgumentNullException(nameof(steps));
        this.options = options ?? WorkflowOptions.Default;
        workflows = new WorkflowRepository(store);
        leases = new LeaseManager(store);
        chainWorkflow = new ChainWorkflow(store, steps, this.options);
    }

    /// <summary>The workflow key of an image: its source URI and name.</summary>
    public static string KeyOf(string source, string name) => $"{source}/{name}";

    /// <summary>Installs <paramref name="image"/> (as its source lists it) unless it is Ready already.</summary>
    public async Task<InstallResult> RunAsync(Image image, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(context);
        var key = KeyOf(image.Source, image.Name);
        var cancel = context.CancellationToken;

        // idempotent fast path: a store lookup (Ready, and the same layers as the source lists now)
        var known = workflows.Find(WorkflowKinds.InstallImage, key);
        if (known?.State == nameof(InstallState.Ready) && !options.Force && !SourceChanged(image))
        {
            return Done(image, null, didWork: false);
        }

        await using var lease = await leases.AcquireAsync(new LeaseKey(WorkflowKinds.InstallImage, key), options.LeaseTtl, cancel,
            owner => context.WriteVerbose($"Waiting for {owner} to finish installing '{image.Name}'.")).ConfigureAwait(false);
        known = workflows.Find(WorkflowKinds.InstallImage, key);
        var changed = SourceChanged(image);
        if (known?.State == nameof(InstallState.Ready) && !options.Force && !changed)
        {
            return Done(image, null, didWork: false);
        }

        if (known?.State == nameof(InstallState.Rejected) && !options.Force && !changed)
        {
            throw Rejected(image, known.StateDetail, null);
        }

        if (known is not null && WorkflowKinds.IsIntermediate(known.Kind, known.State) && known.InterruptedAt is null)
        {
            // we hold the lease, so the run that left it here is gone: journal that before resuming
            await new WorkflowRecovery(store) { LeaseTtl = options.LeaseTtl }.RecoverOneAsync(known, lease.TakenOverFrom, cancel).ConfigureAwait(false);
        }

        var imageId = store.Write((c, t) => ImageRepository.Ensure(c, t, image));
        var run = workflows.BeginRun(WorkflowKinds.InstallImage, key, image.Name, image.Source);
        await DiscardLeftoverStagesAsync(run, new StepContext(context, cancel, run.RunId)).ConfigureAwait(false);
        var machine = new PersistedWorkflow<InstallState, InstallTrigger>(store, run, WorkflowMachines.ConfigureInstall);
        var progress = new ProgressCounter(options.OnProgress, image.Name, image.Layers.Count);
        machine.Machine.OnTransitioned(t =>
        {
            context.WriteVerbose($"Image '{image.Name}': {t.Source} -> {t.Destination} ({t.Trigger}), run {run.RunId}.");
            progress.Moved(t.Destination);
        });
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, lease.Lost);
        var step = new StepContext(context, linked.Token, run.RunId);
        try
        {
            Begin(machine, run, image, changed);
            var layers = image.Layers;
            if (machine.State == InstallState.Resolving)
            {
                var resolved = await StepRetry.RunAsync(options, step, $"Resolving '{image.Name}'", s => steps.ResolveAsync(image, s)).ConfigureAwait(false);
                layers = ValidateResolved(image, resolved);
                var recorded = new Image { Name = image.Name, Source = image.Source, Layers = layers };
                machine.Fire(InstallTrigger.Resolved, $"{layers.Count} layers",
                    alsoWrite: (c, t) => ImageRepository.Record(c, t, recorded));
            }
            else
            {
                layers = new ImageRepository(store).Find(image.Source, image.Name)?.Layers ?? image.Layers;
            }

            progress.Layers = layers.Count;
            var chains = await FetchAndUnpackAsync(machine, run, imageId, image, layers, step, linked, progress).ConfigureAwait(false);
            var top = chains[^1];
            machine.Fire(InstallTrigger.Unpacked, $"top chain {top.ChainId} on {top.Device}", alsoWrite: (c, t) =>
            {
                RequireSealed(c, t, imageId, chains);
                foreach (var chain in chains)
                {
                    ImageRepository.SetLayerDigest(c, t, image.Source, image.Name, chain.Depth, chain.LayerDigest);
                }
            });
            return Done(image, run.RunId, didWork: true);
        }
        catch (Exception e) when (lease.Lost.IsCancellationRequested)
        {
            throw new FlyException(ErrorIds.LeaseUnavailable, FlyErrorCategory.ResourceBusy,
                $"The install of '{image.Name}' lost its lease to another owner and stopped; that owner goes on with it.", image.Name, e);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            if (machine.CanFire(InstallTrigger.Interrupt))
            {
                machine.Fire(InstallTrigger.Interrupt, "cancelled; the next install resumes from the last completed step");
            }

            throw;
        }
        catch (Exception e) when (e is not FlyException { ErrorId: ErrorIds.WorkflowConflict } && machine.CanFire(InstallTrigger.Fail))
        {
            var failedIn = machine.State;
            var hostile = options.Classify(e) == StepFailureKind.Hostile;
            var why = $"{failedIn}: {Unwrap(e).Message}";
            // a full pool or a write that did not reach the device keeps its own id: scripts act on it
            var kept = Unwrap(e) is FlyException { ErrorId: ErrorIds.PoolFull or ErrorIds.ChainWriteFailed } f ? f : null;
            var errorId = hostile ? ErrorIds.ImageRejected : kept?.ErrorId ?? ErrorIds.InstallFailed;
            machine.Fire(hostile ? InstallTrigger.Reject : InstallTrigger.Fail, error: why, errorId: errorId);
            throw hostile ? Rejected(image, why, e) : new FlyException(errorId, Category(e), $"Installing '{image.Name}' failed while {why}", image.Name, e)
            {
                RecommendedAction = kept?.RecommendedAction ?? "Run the install again: completed steps are kept. Get-FlyImageEvent shows what happened.",
            };
        }
    }

    private void Begin(PersistedWorkflow<InstallState, InstallTrigger> machine, WorkflowRecord run, Image image, bool sourceChanged)
    {
        switch (machine.State)
        {
            case InstallState.Pending:
                machine.Fire(InstallTrigger.Start, $"{image.Layers.Count} layers listed");
                break;
            case InstallState.Resolving or InstallState.Fetching or InstallState.Unpacking:
                var done = workflows.CompletedSteps(run.Id);
                machine.Fire(InstallTrigger.Resume,
                    $"resuming {machine.State}: {done.Keys.Count(k => k.StartsWith("fetch:", StringComparison.Ordinal))} blobs fetched and {done.Keys.Count(k => k.StartsWith("chain:", StringComparison.Ordinal))} chains sealed before");
                break;
            case InstallState.Failed when !options.Force:
                machine.Fire(InstallTrigger.Retry, $"retrying after: {run.StateDetail}");
                break;
            case InstallState.Failed or InstallState.Rejected:
                machine.Fire(InstallTrigger.ForceRetry, $"{(sourceChanged && !options.Force ? "the source's layers changed" : "forced")}; retrying after: {run.StateDetail}",
                    alsoWrite: ForgetStepsIfForced(run));
                break;
            case InstallState.Ready:
                machine.Fire(InstallTrigger.Reverify, options.Force ? "forced: re-verifying every step" : "the source's layers changed: installing them",
                    alsoWrite: ForgetStepsIfForced(run));
                break;
        }
    }

    private async Task<List<LayerChain>> FetchAndUnpackAsync(PersistedWorkflow<InstallState, InstallTrigger> machine, WorkflowRecord run, long imageId, Image image,
        IReadOnlyList<Layer> layers, StepContext step, CancellationTokenSource linked, ProgressCounter progress)
    {
        var done = workflows.CompletedSteps(run.Id);
        var fetched = layers.Select(_ => new TaskCompletionSource<FetchedLayer>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var incoming = layers.Select(_ => new TaskCompletionSource<IncomingBlob>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
        var work = step with { CancellationToken = failFast.Token };
        // applying while downloading wants the blobs in layer order: one blob at a time is started, the next as soon as every
        // part of the one before is requested (its last parts still in flight, within the store's limit of blobs at once),
        // so the lowest layer, applied first, has the connections first; otherwise up to FetchParallelism blobs start together
        using var gate = new SemaphoreSlim(steps.CanStage ? 1 : Math.Max(1, options.FetchParallelism));
        var fetches = new List<Task>();
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var slot = fetched[i];
            if (done.TryGetValue(FetchStep(layer), out var result) && FetchRecord.Parse(result) is { } record && record.Matches(layer))
            {
                slot.SetResult(new FetchedLayer(record.Digest, record.BlobPath));
                progress.Fetched();
                continue;
            }

            fetches.Add(Guard(FetchOneAsync(image, layer, run, gate, slot, incoming[i], work, progress), failFast));
        }

        // a chain that fails does not stop the downloads: every blob is kept, so a retry (after a bigger pool replaced a full
        // one, say) downloads nothing again; a failed fetch, Ctrl+C or a lost lease stops everything
        var chaining = MakeChainsAsync(image, imageId, run, layers, fetched, incoming, work, progress);
        try
        {
            await Task.WhenAll(fetches).ConfigureAwait(false);
            if (machine.State == InstallState.Fetching)
            {
                machine.Fire(InstallTrigger.Fetched, $"{layers.Count} blobs in the content store");
            }

            return await chaining.ConfigureAwait(false);
        }
        catch
        {
            await failFast.CancelAsync().ConfigureAwait(false);
            var all = fetches.Append(chaining).ToArray();
            try
            {
                await Task.WhenAll(all).ConfigureAwait(false);
            }
            catch
            {
                // every task has ended; report the first real failure below
            }

            var first = all.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException);
            if (first is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
            }

            throw;
        }
        finally
        {
            foreach (var reader in incoming.Where(r => r.Task.IsCompletedSuccessfully))
            {
                reader.Task.Result.Dispose();
            }
        }
    }

    private async Task FetchOneAsync(Image image, Layer layer, WorkflowRecord run, SemaphoreSlim gate, TaskCompletionSource<FetchedLayer> slot,
        TaskCompletionSource<IncomingBlob> incoming, StepContext step, ProgressCounter progress)
    {
        try
        {
            await gate.WaitAsync(step.CancellationToken).ConfigureAwait(false);
            var held = 1;
            void Release()
            {
                if (Interlocked.Exchange(ref held, 0) == 1)
                {
                    gate.Release();
                }
            }

            try
            {
                // not wrapped in StepRetry: the fetch retries each part itself (FetchOptions.PartAttempts), the one retry layer
                var got = steps.CanStage
                    ? await steps.FetchAsync(image, layer, step with { Attempt = 1 }, reader =>
                    {
                        incoming.TrySetResult(reader);
                        _ = reader.AllRequested.ContinueWith(_ => Release(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    }).ConfigureAwait(false)
                    : await steps.FetchAsync(image, layer, step with { Attempt = 1 }).ConfigureAwait(false);
                if (got is null || !ChainIds.IsDigest(got.Digest) || string.IsNullOrEmpty(got.BlobPath))
                {
                    throw new FlyException(ErrorIds.WorkflowStepInvalid, FlyErrorCategory.InvalidResult,
                        $"Fetching layer {layer.Index} of '{image.Name}' returned no valid sha256 digest and blob path.", layer.Key);
                }

                workflows.CompleteStep(run.Id, run.RunId, FetchStep(layer), new FetchRecord(layer.Key, layer.Size, layer.ETag, got.Digest, got.BlobPath).ToJson());
                store.Write((c, t) => ImageRepository.SetLayerDigest(c, t, image.Source, image.Name, layer.Index, got.Digest));
                slot.TrySetResult(got);
                progress.Fetched();
            }
            finally
            {
                Release();
            }
        }
        catch (Exception e)
        {
            slot.TrySetException(e);
            throw;
        }
        finally
        {
            incoming.TrySetCanceled(CancellationToken.None); // no reader: the blob was here, or another fetch brought it
        }
    }

    private async Task<List<LayerChain>> MakeChainsAsync(Image image, long imageId, WorkflowRecord run, IReadOnlyList<Layer> layers, TaskCompletionSource<FetchedLayer>[] fetched,
        TaskCompletionSource<IncomingBlob>[] incoming, StepContext step, ProgressCounter progress)
    {
        var chains = new List<LayerChain>(fetched.Length);
        LayerChain? parent = null;
        for (var i = 0; i < fetched.Length; i++)
        {
            var staged = steps.CanStage ? await StageWhileDownloadingAsync(image, run, layers[i], parent, fetched[i].Task, incoming[i].Task, step).ConfigureAwait(false) : null;
            LayerChain chain;
            try
            {
                var blob = await fetched[i].Task.WaitAsync(step.CancellationToken).ConfigureAwait(false);
                if (staged is not null && incoming[i].Task.Result.VerifiedDigest != blob.Digest)
                {
                    // the fetch succeeded with bytes of another attempt: the ones applied failed verification
                    step.Operation.WriteVerbose($"Layer {i + 1} of '{image.Name}' was applied while downloading from bytes that failed verification; they are thrown away and the verified blob applied.");
                    await ForgetStageAsync(run, StageStep(i + 1), staged, step).ConfigureAwait(false);
                    staged = null;
                }

                var plan = new ChainPlan(ChainIds.Next(parent?.ChainId, blob.Digest), parent?.ChainId, i + 1, blob.Digest, blob.BlobPath, parent?.Device) { StagedDevice = staged };
                chain = await chainWorkflow.EnsureSealedAsync(plan, image.Name, image.Source, imageId, step).ConfigureAwait(false);
            }
            finally
            {
                if (staged is not null)
                {
                    // adopted (renamed to the chain's device), or of no use: the chain was made elsewhere, or the blob failed verification
                    await ForgetStageAsync(run, StageStep(i + 1), staged, step).ConfigureAwait(false);
                }
            }

            chains.Add(chain);
            parent = chain;
            progress.Sealed();
        }

        return chains;
    }

    /// <summary>
    /// When layer's blob is still downloading, applies it from the bytes as they land onto a device of the run's own, and
    /// returns that device (unverified: adopted by the chain only once the fetch returns the verified blob). Null when the
    /// blob was here first or the staged apply did not succeed (its device is deleted; the verified blob decides then).
    /// </summary>
    private async Task<string?> StageWhileDownloadingAsync(Image image, WorkflowRecord run, Layer layer, LayerChain? parent, Task<FetchedLayer> fetch,
        Task<IncomingBlob> incoming, StepContext step)
    {
        await Task.WhenAny(fetch, incoming).WaitAsync(step.CancellationToken).ConfigureAwait(false);
        if (fetch.IsCompleted || !incoming.IsCompletedSuccessfully)
        {
            return null;
        }

        var device = StagedLayer.DeviceOf(run.RunId, layer.Index);
        // the intent first: a run that dies while staging leaves a record the next run cleans up
        workflows.CompleteStep(run.Id, run.RunId, StageStep(layer.Index), device);
        try
        {
            await steps.StageLayerAsync(new StagedLayer(device, layer.Index, parent?.Device, layer.Key), incoming.Result, step).ConfigureAwait(false);
            return device;
        }
        catch (Exception e)
        {
            await ForgetStageAsync(run, StageStep(layer.Index), device, step).ConfigureAwait(false);
            if (step.CancellationToken.IsCancellationRequested)
            {
                throw;
            }

            // unverified bytes decide nothing: a rejection or a failure (a full pool too) is judged again on the verified blob
            step.Operation.WriteVerbose($"Layer {layer.Index} of '{image.Name}' could not be applied while it downloaded ({Unwrap(e).Message}); it is applied from the verified blob instead.");
            return null;
        }
    }

    /// <summary>
    /// Deletes a staged device if it is still there (an adopted one has its chain's name by then) and clears its record.
    /// A deletion that fails (a pool gone read-only) is a warning, never the run's failure: the record stays, and the
    /// next install of the image (or Limit-FlyImageStore, once the run is gone) deletes the device.
    /// </summary>
    private async Task ForgetStageAsync(WorkflowRecord run, string stepName, string device, StepContext step)
    {
        try
        {
            await steps.DiscardStagedAsync(device, step with { CancellationToken = CancellationToken.None }).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            step.Operation.WriteWarning($"The device {device}, where a layer of '{run.Subject}' was applied while it downloaded, could not be deleted ({Unwrap(e).Message}); the next install of the image deletes it, or Limit-FlyImageStore once this run is gone.");
            return;
        }

        workflows.CompleteStep(run.Id, run.RunId, stepName, null);
    }

    /// <summary>Staged devices an earlier run of this install recorded and did not clear (it died): deleted before anything else.</summary>
    private async Task DiscardLeftoverStagesAsync(WorkflowRecord run, StepContext step)
    {
        foreach (var (name, device) in workflows.CompletedSteps(run.Id).Where(s => s.Key.StartsWith(StagedLayer.Prefix, StringComparison.Ordinal) && s.Value is not null))
        {
            step.Operation.WriteVerbose($"Deleting {device}, left by a run of '{run.Subject}' that stopped while applying a layer as it downloaded.");
            await ForgetStageAsync(run, name, device!, step).ConfigureAwait(false);
        }
    }

    private static async Task Guard(Task task, CancellationTokenSource failFast)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch
        {
            await failFast.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static void RequireSealed(SqliteConnection c, SqliteTransaction t, long imageId, IReadOnlyList<LayerChain> chains)
    {
        // Ready is never recorded for an incomplete chain: check it in the very transaction that records Ready
        for (var i = 0; i < chains.Count; i++)
        {
            var state = WorkflowRepository.StateOf(c, t, WorkflowKinds.MakeChain, chains[i].ChainId);
            var used = c.Scalar<string>(t, "SELECT chain_id FROM image_chains WHERE image_id = $i AND idx = $x;", ("$i", imageId), ("$x", i + 1));
            if (state != nameof(ChainState.Sealed) || used != chains[i].ChainId)
            {
                throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidOperation,
                    $"Chain {i + 1} ({chains[i].ChainId}) is {state ?? "unknown"}, not Sealed: the image cannot be Ready.", chains[i].ChainId);
            }
        }
    }

    private static IReadOnlyList<Layer> ValidateResolved(Image image, Image resolved)
    {
        if (resolved is null || resolved.Layers.Count == 0)
        {
            throw new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData, $"The image '{image.Name}' has no layers.", image.Name);
        }

        if (!resolved.IsValid)
        {
            throw new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData, $"The image '{image.Name}' is invalid: {string.Join("; ", resolved.Problems)}", image.Name);
        }

        var indexes = resolved.Layers.Select(l => l.Index).ToList();
        if (!indexes.SequenceEqual(Enumerable.Range(1, indexes.Count)))
        {
            throw new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData, $"The layers of '{image.Name}' are not numbered 1..{indexes.Count}.", image.Name);
        }

        return resolved.Layers;
    }

    /// <summary>-Force redoes every step (each re-verifies); otherwise recorded fetches of unchanged layers stand.</summary>
    private Action<SqliteConnection, SqliteTransaction>? ForgetStepsIfForced(WorkflowRecord run)
        => options.Force ? (c, t) => WorkflowRepository.ClearSteps(c, t, run.Id) : null;

    /// <summary>Whether the source now lists other layers (key, size, ETag) than the store recorded for the image.</summary>
    private bool SourceChanged(Image image)
        => image.Layers.Count > 0 && new ImageRepository(store).Find(image.Source, image.Name) is { } recorded && recorded.Layers.Count > 0
            && !ImageLayers.Same(image, recorded);

    private InstallResult Done(Image requested, string? runId, bool didWork)
    {
        var recorded = new ImageRepository(store).Find(requested.Source, requested.Name) ?? requested;
        var state = Enum.TryParse<InstallState>(workflows.Find(WorkflowKinds.InstallImage, KeyOf(requested.Source, requested.Name))?.State, out var s) ? s : InstallState.Pending;
        return new InstallResult(recorded, state, runId, didWork, new LayerChainRepository(store).OfImage(requested.Source, requested.Name));
    }

    private static FlyException Rejected(Image image, string? why, Exception? inner)
        => new(ErrorIds.ImageRejected, FlyErrorCategory.InvalidData, $"The image '{image.Name}' was rejected: {why}", image.Name, inner)
        {
            RecommendedAction = "Fix the image at its source; -Force retries a rejected image.",
        };

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;

    private static FlyErrorCategory Category(Exception e) => Unwrap(e) is FlyException f ? f.Category : FlyErrorCategory.NotSpecified;

    private static string FetchStep(Layer layer) => $"fetch:{layer.Index}";

    private static string StageStep(int depth) => $"{StagedLayer.Prefix}{depth}";

    /// <summary>What a completed fetch step recorded: the layer's identity at the source and the blob it gave.</summary>
    private sealed record FetchRecord(string Key, long Size, string? ETag, string Digest, string BlobPath)
    {
        public bool Matches(Layer layer) => layer.Key == Key && layer.Size == Size && layer.ETag == ETag && ChainIds.IsDigest(Digest);

        public string ToJson() => JsonSerializer.Serialize(this);

        public static FetchRecord? Parse(string? json)
        {
            if (json is null)
            {
                return null;
            }

            try
            {
                return JsonSerializer.Deserialize<FetchRecord>(json);
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    /// <summary>Counts fetched blobs and sealed chains of one run and reports them with the current state.</summary>
    private sealed class ProgressCounter(Action<InstallProgress>? report, string image, int layers)
    {
        private int fetched;
        private int sealedChains;
        private int state;

        public int Layers { get; set; } = layers;

        public void Moved(InstallState to)
        {
            Volatile.Write(ref state, (int)to);
            Report();
        }

        public void Fetched()
        {
            Interlocked.Increment(ref fetched);
            Report();
        }

        public void Sealed()
        {
            Interlocked.Increment(ref sealedChains);
            Report();
        }

        private void Report() => report?.Invoke(new InstallProgress(image, (InstallState)Volatile.Read(ref state), Layers, Volatile.Read(ref fetched), Volatile.Read(ref sealedChains)));
    }
}
