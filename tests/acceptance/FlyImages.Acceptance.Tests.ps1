#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
    Acceptance tests for a deployed FlyImages, run on a real host after a deploy:

        Invoke-Pester ./tests/acceptance -Output Detailed                       # listing only
        sudo pwsh -c 'Invoke-Pester ./tests/acceptance -Output Detailed -TagFilter Install,Listing'

    Settings (environment):
      FLYIMAGES_ACCEPTANCE_MODULE  the module to test (default: ./out/FlyImages/FlyImages.psd1 from build.ps1 Package,
                                   else the installed FlyImages module)
      FLYIMAGES_SOURCE / FLYIMAGES_S3_ENDPOINT  where images come from (default: the public bucket)
      FLYIMAGES_ACCEPTANCE_IMAGE   the image to install and snapshot (default: node, the smallest top layer)
    The Install tests need root and make their own store under the temp folder, removed at the end.
#>

BeforeDiscovery {
    # -Skip is decided at discovery time
    $isRoot = (id -u) -eq '0'
}

BeforeAll {
    $manifest = $env:FLYIMAGES_ACCEPTANCE_MODULE
    if (-not $manifest) {
        $built = Join-Path $PSScriptRoot '../../out/FlyImages/FlyImages.psd1'
        $manifest = if (Test-Path $built) { $built } else { 'FlyImages' }
    }
    Import-Module $manifest -Force -ErrorAction Stop
    $script:image = if ($env:FLYIMAGES_ACCEPTANCE_IMAGE) { $env:FLYIMAGES_ACCEPTANCE_IMAGE } else { 'node' }
    $script:store = Join-Path ([IO.Path]::GetTempPath()) "flyimages-acceptance-$([guid]::NewGuid().ToString('N'))"
}

AfterAll {
    if (Test-Path $script:store) {
        Get-FlyThinSnapshot -StorePath $script:store -ErrorAction SilentlyContinue | Remove-FlyThinSnapshot -StorePath $script:store -Force -ErrorAction SilentlyContinue
    }
}

Describe 'The module' -Tag Listing {
    It 'exports the FlyImages cmdlets with approved verbs' {
        $commands = Get-Command -Module FlyImages
        $commands.Name | Should -Contain 'Get-FlyImage'
        $commands.Name | Should -Contain 'Install-FlyImage'
        $commands.Name | Should -Contain 'New-FlyThinSnapshot'
        $approved = (Get-Verb).Verb
        $commands | ForEach-Object { $approved | Should -Contain $_.Verb }
    }
}

Describe 'Get-FlyImage' -Tag Listing {
    It 'lists valid images whose layers are numbered 1..N' {
        $images = Get-FlyImage -StorePath $script:store
        $images | Should -Not -BeNullOrEmpty
        foreach ($i in $images | Where-Object State -ne 'Invalid') {
            $i.Layers.Index | Should -Be (1..$i.Layers.Count)
            $i.Size | Should -Be ($i.Layers | Measure-Object -Property Size -Sum).Sum
        }
    }

    It 'offers the image under test' {
        Get-FlyImage $script:image -StorePath $script:store | Should -HaveCount 1
    }

    It 'reports an unknown image with a stable error id' {
        { Get-FlyImage 'no-such-image-here' -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageNotFound,FlyImages.Cmdlets.GetFlyImageCommand'
    }

    It 'reports an unreachable endpoint as a connection error' {
        { Get-FlyImage -Source s3://bucket-x/images -Endpoint http://127.0.0.1:9 -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SourceUnreachable,FlyImages.Cmdlets.GetFlyImageCommand'
    }
}

Describe 'Install-FlyImage and thin snapshots' -Tag Install {
    It 'installs the image: Ready, with every layer digest recorded' -Skip:(-not $isRoot) {
        $ready = Get-FlyImage $script:image -StorePath $script:store | Install-FlyImage -StorePath $script:store
        $ready.State | Should -Be 'Ready'
        $ready.Layers.Digest | Should -Match '^sha256:[0-9a-f]{64}$'
        (Get-FlyImage -Installed $script:image -StorePath $script:store).State | Should -Be 'Ready'
    }

    It 'does nothing the second time' -Skip:(-not $isRoot) {
        $events = @(Get-FlyImageEvent $script:image -StorePath $script:store).Count
        $again = Install-FlyImage $script:image -StorePath $script:store
        $again.State | Should -Be 'Ready'
        @(Get-FlyImageEvent $script:image -StorePath $script:store).Count | Should -Be $events
    }

    It 'activates it as a snapshot whose device holds the merged filesystem' -Skip:(-not $isRoot) {
        $snapshot = New-FlyThinSnapshot -Image $script:image -Name acceptance-1 -StorePath $script:store
        $snapshot.State | Should -Be 'Active'
        $snapshot.DevicePath | Should -Exist
        $mount = Join-Path ([IO.Path]::GetTempPath()) "flyimages-acceptance-mnt-$([guid]::NewGuid().ToString('N'))"
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
        (New-FlyThinSnapshot -Image $script:image -Name acceptance-1 -StorePath $script:store).Id | Should -Be $snapshot.Id
    }

    It 'removes the snapshot and leaves no device behind' -Skip:(-not $isRoot) {
        Remove-FlyThinSnapshot acceptance-1 -StorePath $script:store -Force
        Get-FlyThinSnapshot -StorePath $script:store | Should -BeNullOrEmpty
        { Get-FlyThinSnapshot acceptance-1 -StorePath $script:store -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,FlyImages.Cmdlets.GetFlyThinSnapshotCommand'
    }
}
