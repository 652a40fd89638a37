#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
    The deploy check: run on a host after a deploy (as root for the Install tag), against the real source.
    Every cmdlet's main path and its main error ids, end to end through the installed module:

        Invoke-Pester ./tests/acceptance -Output Detailed -TagFilter Module,Listing          # no root needed
        Invoke-Pester ./tests/acceptance -Output Detailed -TagFilter Module,Listing,Install  # as root

    Tags: Module (exports, layers, error ids needing neither source nor root), Listing (reads the source),
    Install (root: installs into a thin pool of its own, snapshots, removes; the pool goes at the end).
    CI (tests/run.sh) runs them against s3rver and a folder source with block-file pools, and inside a
    qemu VM on devicemapper.

    Settings (environment):
      FLYIMAGES_ACCEPTANCE_MODULE  the module to import: a manifest path or a module name (default: the installed
                                   FlyImages module when one is on PSModulePath, else ./out/FlyImages/FlyImages.psd1)
      FLYIMAGES_ACCEPTANCE_MODULE_BASE  when set, the imported module must load from this folder (CI: the copy
                                   installed from the nupkg with Save-PSResource)
      FLYIMAGES_SOURCE / FLYIMAGES_S3_ENDPOINT  where images come from (the module's own defaults; unset: the
                                   public bucket)
      FLYIMAGES_ACCEPTANCE_IMAGE   the image to install and snapshot (default: node)
      FLYIMAGES_ACCEPTANCE_STORE   the store to use (default: a new folder under the temp folder, removed at the end).
                                   In a store of yours the suite adds one pool (acceptance-<random>) and removes it,
                                   with its snapshot, at the end; the installed image's blobs stay in the store.
      FLYIMAGES_ACCEPTANCE_BACKEND the pool's backend: Auto (default), DeviceMapper or BlockFile
    At the end nothing it made is left: no store (unless yours), pool, snapshot, loop device, mount or dm device.
#>

BeforeDiscovery {
    # -Skip is decided at discovery time
    $isRoot = (id -u) -eq '0'
}

BeforeAll {
    $manifest = $env:FLYIMAGES_ACCEPTANCE_MODULE
    if (-not $manifest) {
        $built = Join-Path $PSScriptRoot '../../out/FlyImages/FlyImages.psd1'
        $manifest = if (Get-Module -ListAvailable FlyImages) { 'FlyImages' } elseif (Test-Path $built) { $built } else { 'FlyImages' }
    }
    Import-Module $manifest -Force -ErrorAction Stop
    $script:image = if ($env:FLYIMAGES_ACCEPTANCE_IMAGE) { $env:FLYIMAGES_ACCEPTANCE_IMAGE } else { 'node' }
    $script:backend = if ($env:FLYIMAGES_ACCEPTANCE_BACKEND) { $env:FLYIMAGES_ACCEPTANCE_BACKEND } else { 'Auto' }
    $script:ownStore = -not $env:FLYIMAGES_ACCEPTANCE_STORE
    $script:store = if ($script:ownStore) { Join-Path ([IO.Path]::GetTempPath()) "flyimages-acceptance-$([guid]::NewGuid().ToString('N'))" } else { $env:FLYIMAGES_ACCEPTANCE_STORE }
    $script:pool = "acceptance-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $script:snapshot = "acceptance-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $script:poolsBefore = @(Get-FlyThinPool -StorePath $script:store -ErrorAction SilentlyContinue | ForEach-Object Name)
    $script:scratch = Join-Path ([IO.Path]::GetTempPath()) "flyimages-acceptance-scratch-$([guid]::NewGuid().ToString('N'))"
    New-Item -ItemType Directory $script:scratch | Out-Null

    # what the suite made and must take down: mounts, loop devices and dm devices under its store or pool
    function script:Get-Leftover {
        $under = @($script:scratch) + $(if ($script:ownStore) { $script:store } else { Join-Path $script:store "pools/$script:pool" })
        $inside = { param($p) foreach ($u in $under) { if ($p -eq $u -or $p.StartsWith("$u/")) { return $true } }; $false }
        foreach ($line in Get-Content /proc/self/mountinfo) {
            $point = ($line -split ' ')[4] -replace '\\040', ' '
            if (& $inside $point) { "mount $point" }
        }
        foreach ($line in @(losetup -nO NAME,BACK-FILE 2>$null)) {
            $name, $file = $line.Trim() -split '\s+', 2
            if ($file -and (& $inside ($file -replace ' \(deleted\)$', ''))) { "loop device $name ($file)" }
        }
        if (Test-Path /dev/mapper) {
            Get-ChildItem /dev/mapper -Filter "flyimages-$script:pool*" | ForEach-Object { "dm device $($_.Name)" }
        }
        if ($script:ownStore -and (Test-Path $script:store)) { "store $script:store" }
        if (Test-Path $script:scratch) { "folder $script:scratch" }
    }

    function script:Remove-Made {
        Get-FlyThinSnapshot -StorePath $script:store -ErrorAction SilentlyContinue |
            Where-Object { $script:ownStore -or $_.Name -eq $script:snapshot } |
            Remove-FlyThinSnapshot -StorePath $script:store -Force -ErrorAction Continue
        Get-FlyThinPool -StorePath $script:store -ErrorAction SilentlyContinue |
            Where-Object { $script:ownStore -or ($_.Name -eq $script:pool) -or ($_.Name -notin $script:poolsBefore) } |
            Remove-FlyThinPool -StorePath $script:store -Force -ErrorAction Continue
        if ($script:ownStore -and (Test-Path $script:store)) { Remove-Item $script:store -Recurse -Force }
        if (Test-Path $script:scratch) { Remove-Item $script:scratch -Recurse -Force }
    }
}

AfterAll {
    # the last Describe removes everything and asserts it; this is the safety net when a test stopped early
    Remove-Made
    $left = @(Get-Leftover)
    if ($left) { throw "The acceptance suite left behind: $($left -join '; ')" }
}

Describe 'The module' -Tag Module {
    It 'exports the FlyImages cmdlets with approved verbs, and only cmdlets' {
        $module = Get-Module FlyImages
        $commands = Get-Command -Module FlyImages
        foreach ($name in 'Get-FlyImage', 'Install-FlyImage', 'New-FlyThinSnapshot', 'Get-FlyThinSnapshot', 'Remove-FlyThinSnapshot',
            'Get-FlyImageEvent', 'Expand-FlyLayer', 'Initialize-FlyThinPool', 'Get-FlyThinPool', 'Remove-FlyThinPool', 'Save-FlyImage') {
            $commands.Name | Should -Contain $name
        }
        $approved = (Get-Verb).Verb
        $commands | ForEach-Object { $approved | Should -Contain $_.Verb }
        $module.ExportedFunctions.Count | Should -Be 0
    }

    It 'loads from the expected folder' -Skip:(-not $env:FLYIMAGES_ACCEPTANCE_MODULE_BASE) {
        (Get-Module FlyImages).ModuleBase.TrimEnd('/') | Should -Be $env:FLYIMAGES_ACCEPTANCE_MODULE_BASE.TrimEnd('/')
    }

    It 'reports a malformed source as SourceInvalid' {
        { Get-FlyImage -Source 'ftp://example.invalid/x' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SourceInvalid,FlyImages.Cmdlets.GetFlyImageCommand'
    }

    It 'reports a missing source folder as SourceNotFound' {
        { Get-FlyImage -Source (Join-Path $script:scratch 'no-such-folder') -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SourceNotFound,FlyImages.Cmdlets.GetFlyImageCommand'
    }

    It 'reports an unreachable endpoint as SourceUnreachable' {
        { Get-FlyImage -Source s3://bucket-x/images -Endpoint http://127.0.0.1:9 -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SourceUnreachable,FlyImages.Cmdlets.GetFlyImageCommand'
    }

    It 'Expand-FlyLayer applies a layer onto a folder and reports it' {
        $tar = Join-Path $script:scratch 'ok.tar'
        $dir = Join-Path $script:scratch 'ok'; New-Item -ItemType Directory (Join-Path $dir 'etc') | Out-Null
        Set-Content (Join-Path $dir 'etc/hello') 'hello'
        tar -C $dir -cf $tar etc
        $out = Join-Path $script:scratch 'out'
        $summary = Expand-FlyLayer -Path $tar -Destination $out -StorePath $script:store
        $summary | Should -HaveCount 1
        Get-Content (Join-Path $out 'etc/hello') | Should -Be 'hello'
    }

    It 'Expand-FlyLayer rejects a path traversal with LayerRejectedTraversal and writes nothing outside' {
        $tar = Join-Path $script:scratch 'evil.tar'
        $stream = [IO.File]::Create($tar)
        try {
            $writer = [Formats.Tar.TarWriter]::new($stream, [Formats.Tar.TarEntryFormat]::Ustar, $false)
            $entry = [Formats.Tar.UstarTarEntry]::new([Formats.Tar.TarEntryType]::RegularFile, '../escaped')
            $entry.DataStream = [IO.MemoryStream]::new([byte[]](1, 2, 3))
            $writer.WriteEntry($entry)
            $writer.Dispose()
        }
        finally { $stream.Dispose() }
        $out = Join-Path $script:scratch 'evil-out'
        { Expand-FlyLayer -Path $tar -Destination $out -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'LayerRejectedTraversal,FlyImages.Cmdlets.ExpandFlyLayerCommand'
        Join-Path $script:scratch 'escaped' | Should -Not -Exist
    }

    It 'Expand-FlyLayer reports a missing layer file as LayerNotFound' {
        { Expand-FlyLayer -Path (Join-Path $script:scratch 'none.tar') -Destination (Join-Path $script:scratch 'x') -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'LayerNotFound,FlyImages.Cmdlets.ExpandFlyLayerCommand'
    }

    It 'reports unknown pools, snapshots and journal entries with stable ids' {
        { Get-FlyThinPool 'no-such-pool' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ThinPoolNotFound,FlyImages.Cmdlets.GetFlyThinPoolCommand'
        { Remove-FlyThinPool 'no-such-pool' -Force -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ThinPoolNotFound,FlyImages.Cmdlets.RemoveFlyThinPoolCommand'
        { Get-FlyThinSnapshot 'no-such-snapshot' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,FlyImages.Cmdlets.GetFlyThinSnapshotCommand'
        { Remove-FlyThinSnapshot 'no-such-snapshot' -Force -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,FlyImages.Cmdlets.RemoveFlyThinSnapshotCommand'
        { Get-FlyImageEvent 'no-such-image' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotFound,FlyImages.Cmdlets.GetFlyImageEventCommand'
    }

    It 'refuses an invalid pool name with ThinPoolNameInvalid, making nothing' {
        { Initialize-FlyThinPool -Name 'bad name!' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ThinPoolNameInvalid,FlyImages.Cmdlets.InitializeFlyThinPoolCommand'
        Get-FlyThinPool -StorePath $script:store | Where-Object Name -eq 'bad name!' | Should -BeNullOrEmpty
    }
}

Describe 'Get-FlyImage and Save-FlyImage' -Tag Listing {
    It 'lists valid images whose layers are numbered 1..N' {
        $images = Get-FlyImage -StorePath $script:store
        $images | Should -Not -BeNullOrEmpty
        foreach ($i in $images | Where-Object State -ne 'Invalid') {
            $i.Layers.Index | Should -Be (1..$i.Layers.Count)
            $i.Size | Should -Be ($i.Layers | Measure-Object -Property Size -Sum).Sum
        }
    }

    It 'offers the image under test, with wildcards too' {
        Get-FlyImage $script:image -StorePath $script:store | Should -HaveCount 1
        (Get-FlyImage "$($script:image.Substring(0, 1))*" -StorePath $script:store).Name | Should -Contain $script:image
    }

    It 'reports an unknown image as ImageNotFound' {
        { Get-FlyImage 'no-such-image-here' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotFound,FlyImages.Cmdlets.GetFlyImageCommand'
        { Save-FlyImage 'no-such-image-here' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotFound,FlyImages.Cmdlets.SaveFlyImageCommand'
        { Install-FlyImage 'no-such-image-here' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotFound,FlyImages.Cmdlets.InstallFlyImageCommand'
    }

    It 'Save-FlyImage brings every layer blob into the store, verified, and -PassThru returns the image' {
        $saved = Get-FlyImage $script:image -StorePath $script:store | Save-FlyImage -PassThru -StorePath $script:store
        $saved.Name | Should -Be $script:image
        $installed = Get-FlyImage -Installed $script:image -StorePath $script:store
        $installed.Layers.Digest | Should -Match '^sha256:[0-9a-f]{64}$'
        foreach ($digest in $installed.Layers.Digest) {
            Join-Path $script:store "blobs/sha256/$($digest.Substring(7))" | Should -Exist
        }
    }

    It 'asks for an install before a snapshot: ImageNotReady' {
        # nothing is Ready yet in a fresh store; in a store of yours the image may be, and this proves nothing
        if (-not $script:ownStore) { Set-ItResult -Skipped -Because 'the store is not the suite''s own' ; return }
        { New-FlyThinSnapshot -Image $script:image -Name $script:snapshot -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotReady,FlyImages.Cmdlets.NewFlyThinSnapshotCommand'
    }
}

Describe 'Install-FlyImage, thin pools and snapshots' -Tag Install {
    It 'Initialize-FlyThinPool makes a pool of its own (idempotent) and Get-FlyThinPool reports it' -Skip:(-not $isRoot) {
        $made = Initialize-FlyThinPool -Name $script:pool -Backend $script:backend -DataSize 1GB -StorePath $script:store
        $made.Name | Should -Be $script:pool
        (Initialize-FlyThinPool -Name $script:pool -Backend $script:backend -DataSize 1GB -StorePath $script:store).Name | Should -Be $script:pool
        $status = Get-FlyThinPool $script:pool -StorePath $script:store
        $status | Should -HaveCount 1
        if ($script:backend -ne 'Auto') { "$($status.Backend)" | Should -Be $script:backend }
    }

    It 'installs the image: Ready, with every layer digest recorded' -Skip:(-not $isRoot) {
        $ready = Get-FlyImage $script:image -StorePath $script:store | Install-FlyImage -Pool $script:pool -DeviceSize 64MB -StorePath $script:store
        $ready.State | Should -Be 'Ready'
        $ready.Layers.Digest | Should -Match '^sha256:[0-9a-f]{64}$'
        (Get-FlyImage -Installed $script:image -StorePath $script:store).State | Should -Be 'Ready'
    }

    It 'does nothing the second time' -Skip:(-not $isRoot) {
        $events = @(Get-FlyImageEvent $script:image -StorePath $script:store).Count
        $again = Install-FlyImage $script:image -Pool $script:pool -DeviceSize 64MB -StorePath $script:store
        $again.State | Should -Be 'Ready'
        @(Get-FlyImageEvent $script:image -StorePath $script:store).Count | Should -Be $events
    }

    It 'activates it as a snapshot whose device holds the merged filesystem' -Skip:(-not $isRoot) {
        $snapshot = New-FlyThinSnapshot -Image $script:image -Name $script:snapshot -Pool $script:pool -StorePath $script:store
        $snapshot.State | Should -Be 'Active'
        $snapshot.DevicePath | Should -Exist
        $mount = Join-Path $script:scratch 'mnt'
        New-Item -ItemType Directory $mount | Out-Null
        try {
            mount -o ro,noload $snapshot.DevicePath $mount
            $LASTEXITCODE | Should -Be 0
            Join-Path $mount 'etc' | Should -Exist
            Join-Path $mount 'usr' | Should -Exist
        }
        finally {
            umount $mount
            Remove-Item $mount
        }
        (New-FlyThinSnapshot -Image $script:image -Name $script:snapshot -Pool $script:pool -StorePath $script:store).Id | Should -Be $snapshot.Id
        (Get-FlyThinSnapshot $script:snapshot -StorePath $script:store).State | Should -Be 'Active'
    }

    It 'refuses to remove a pool that holds a snapshot: ThinPoolInUse' -Skip:(-not $isRoot) {
        { Remove-FlyThinPool $script:pool -Force -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ThinPoolInUse,FlyImages.Cmdlets.RemoveFlyThinPoolCommand'
        Get-FlyThinPool $script:pool -StorePath $script:store | Should -HaveCount 1
    }

    It 'removes the snapshot and leaves no device behind' -Skip:(-not $isRoot) {
        $device = (Get-FlyThinSnapshot $script:snapshot -StorePath $script:store).DevicePath
        Remove-FlyThinSnapshot $script:snapshot -StorePath $script:store -Force
        Get-FlyThinSnapshot -StorePath $script:store | Where-Object Name -eq $script:snapshot | Should -BeNullOrEmpty
        { Get-FlyThinSnapshot $script:snapshot -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,FlyImages.Cmdlets.GetFlyThinSnapshotCommand'
        if ($device -like '/dev/mapper/*') { $device | Should -Not -Exist }
    }

    It 'removes the pool: the image goes back to needing an install, its blobs kept' -Skip:(-not $isRoot) {
        Remove-FlyThinPool $script:pool -Force -StorePath $script:store
        Get-FlyThinPool -StorePath $script:store | Where-Object Name -eq $script:pool | Should -BeNullOrEmpty
        if ($script:ownStore) { (Get-FlyImage -Installed $script:image -StorePath $script:store).State | Should -Not -Be 'Ready' }
    }
}

Describe 'Leaves nothing behind' -Tag Module, Listing, Install {
    It 'removes what it made: no store of its own, pool, snapshot, loop device, mount or dm device' {
        Remove-Made
        @(Get-Leftover) | Should -BeNullOrEmpty
    }
}
