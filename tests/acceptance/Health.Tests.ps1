#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
    Health section of the acceptance suite (tag Health): is this host's store healthy after a deploy?

        pwsh -c 'Invoke-Pester ./tests/acceptance -Output Detailed -TagFilter Health'

    Settings (environment):
      FLYIMAGES_ACCEPTANCE_MODULE  the module to test (default: ./out/FlyImages/FlyImages.psd1, else the installed one)
      FLYIMAGES_HEALTH_STORE       the store to check (a deployed host: /var/lib/flyimages). Default: a store this suite
                                   makes under the temp folder from a one-image folder source, and removes at the end (CI).
      FLYIMAGES_HEALTH_SOURCE      also check that this source answers (-Source; FLYIMAGES_S3_ENDPOINT applies)
      FLYIMAGES_HEALTH_CHECKPATH   a folder of the site's own *.ps1 checks (-CheckPath)
      FLYIMAGES_HEALTH_DEEP        1: re-hash every blob and run integrity_check (-Deep)
#>

BeforeAll {
    $manifest = $env:FLYIMAGES_ACCEPTANCE_MODULE
    if (-not $manifest) {
        $built = Join-Path $PSScriptRoot '../../out/FlyImages/FlyImages.psd1'
        $manifest = if (Test-Path $built) { $built } else { 'FlyImages' }
    }
    Import-Module $manifest -Force -ErrorAction Stop

    $script:temp = $null
    $script:store = $env:FLYIMAGES_HEALTH_STORE
    $script:source = $env:FLYIMAGES_HEALTH_SOURCE
    if (-not $script:store) {
        # CI: a store of our own, made the way a host makes one (Save-FlyImage from a folder source)
        $script:temp = Join-Path ([IO.Path]::GetTempPath()) "flyimages-health-$([guid]::NewGuid().ToString('N'))"
        $layer = Join-Path $script:temp 'layer'
        $images = Join-Path $script:temp 'images'
        New-Item -ItemType Directory -Path $layer, (Join-Path $images 'app') | Out-Null
        Set-Content -LiteralPath (Join-Path $layer 'hello.txt') -Value 'hello'
        tar -C $layer -cf (Join-Path $images 'app/1.tar') hello.txt
        $script:store = Join-Path $script:temp 'store'
        Save-FlyImage app -Source $images -StorePath $script:store -ErrorAction Stop
        if (-not $script:source) { $script:source = $images }
    }

    $script:checkArgs = @{ StorePath = $script:store }
    if ($script:source) { $script:checkArgs.Source = $script:source }
    if ($env:FLYIMAGES_HEALTH_CHECKPATH) { $script:checkArgs.CheckPath = $env:FLYIMAGES_HEALTH_CHECKPATH }
    if ($env:FLYIMAGES_HEALTH_DEEP -eq '1') { $script:checkArgs.Deep = $true }
    $script:results = @(Test-FlyImageStore @script:checkArgs)
}

AfterAll {
    if ($script:temp -and (Test-Path $script:temp)) {
        Remove-Item -LiteralPath $script:temp -Recurse -Force
    }
}

Describe 'The host' -Tag Health {
    It 'names itself, its boot and a store at the schema this module knows' {
        $h = Get-FlyHost -StorePath $script:store
        $h.ComputerName | Should -Be ((Get-Content /proc/sys/kernel/hostname -Raw).Trim())
        $h.BootId | Should -Be ((Get-Content /proc/sys/kernel/random/boot_id -Raw).Trim())
        $h.StoreExists | Should -BeTrue
        $h.SchemaVersion | Should -Be $h.LatestSchemaVersion
    }
}

Describe 'Test-FlyImageStore' -Tag Health {
    It 'runs the built-in checks in order' {
        $script:results.Check | Select-Object -First 8 | Should -Be @('Database', 'Blobs', 'ChainDevices', 'SnapshotDevices', 'Pools', 'Source', 'Leaks', 'Leases')
    }

    It 'passes <_>' -ForEach @('Database', 'Blobs', 'ChainDevices', 'SnapshotDevices', 'Pools', 'Source', 'Leaks', 'Leases') {
        $r = $script:results | Where-Object Check -eq $_
        $r | Should -Not -BeNullOrEmpty
        $r.Passed | Should -BeTrue -Because $r.Message
    }

    It 'passes every site check' {
        $site = $script:results | Select-Object -Skip 8
        foreach ($r in $site) { $r.Passed | Should -BeTrue -Because "$($r.Check): $($r.Message)" }
    }

    It 'says so in one Boolean with -Quiet' {
        Test-FlyImageStore @script:checkArgs -Quiet | Should -BeExactly $true
    }
}

Describe 'Metrics' -Tag Health {
    It 'are written for the textfile collector and promtool accepts them' {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "flyimages-metrics-$([guid]::NewGuid().ToString('N'))"
        New-Item -ItemType Directory -Path $dir | Out-Null
        try {
            $file = Export-FlyMetrics -Path $dir -StorePath $script:store
            $text = Get-Content -LiteralPath $file.Path -Raw
            $text | Should -Match '(?m)^flyimages_blobs \d+$'
            $text | Should -Match '(?m)^flyimages_last_passed_check_timestamp_seconds \d'
            if (Get-Command promtool -ErrorAction SilentlyContinue) {
                $out = $text | promtool check metrics 2>&1
                $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
            }
        }
        finally {
            Remove-Item -LiteralPath $dir -Recurse -Force
        }
    }
}
