#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
    The runbook across hosts (tag Fleet): docs/runbook.md's tested block, run as written against three hosts.

        Invoke-Pester ./tests/acceptance -Output Detailed -TagFilter Fleet      # as root, against an S3 source

    What it makes (and removes in AfterAll, also after a failure), all under names unique to the run:
      - a controller network namespace with a bridge on 10.213.77.0/24: the operator's pwsh runs there (.1), and
        tests/acceptance/fleet/counting-proxy.js answers S3 there (.2), forwarding through a Unix socket to the
        source's endpoint (s3rver on the root namespace's loopback) and logging every request with its client;
      - three host namespaces (.11, .12, .13), each with its own UTS namespace (its own host name), its own sshd
        (host keys made here, root login by a key made here, `Subsystem powershell` running the pinned pwsh with
        -sshs) and its own store (FLYIMAGES_HOME) holding a block-file pool made before sshd starts.
    No address outside these namespaces is used, apart from the root namespace's loopback (s3rver).

    Settings (environment): FLYIMAGES_SOURCE (must be s3://) and FLYIMAGES_S3_ENDPOINT (an http:// endpoint), as
    tests/run.sh sets for its s3rver run; FLYIMAGES_ACCEPTANCE_MODULE / _MODULE_BASE as the other suites (the hosts
    load the module from the same module folder); FLYIMAGES_ACCEPTANCE_IMAGE (default node).
    Skips, saying why, when not root, without ip, unshare, sshd, ssh, ssh-keygen or node, or without an S3 source.
#>

BeforeAll {
    $script:why = $null
    $missing = @(foreach ($tool in 'ip', 'unshare', 'ssh', 'ssh-keygen', 'node') {
            if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { $tool }
        }) + @(if (-not (Test-Path /usr/sbin/sshd)) { '/usr/sbin/sshd (openssh-server)' })
    if ((id -u) -ne '0') { $script:why = 'needs root (network namespaces, sshd, loop devices)' }
    elseif ($missing) { $script:why = "missing: $($missing -join ', ') (tests/setup.sh installs openssh-server, openssh-client, iproute2)" }
    elseif ($env:FLYIMAGES_SOURCE -notlike 's3://*' -or $env:FLYIMAGES_S3_ENDPOINT -notmatch '^http://[^/]+:\d+/?$') {
        $script:why = 'needs an S3 source: FLYIMAGES_SOURCE=s3://... and FLYIMAGES_S3_ENDPOINT=http://host:port (tests/run.sh sets them for s3rver)'
    }
    if ($script:why) { return }

    $manifest = $env:FLYIMAGES_ACCEPTANCE_MODULE
    if (-not $manifest) {
        $built = Join-Path $PSScriptRoot '../../out/FlyImages/FlyImages.psd1'
        $manifest = if (Get-Module -ListAvailable FlyImages) { 'FlyImages' } elseif (Test-Path $built) { $built } else { 'FlyImages' }
    }
    Import-Module $manifest -Force -ErrorAction Stop
    # the module folder the hosts (and the controller) load FlyImages from: the parent of the folder named FlyImages
    $base = if ($env:FLYIMAGES_ACCEPTANCE_MODULE_BASE) { $env:FLYIMAGES_ACCEPTANCE_MODULE_BASE } else { (Get-Module FlyImages).ModuleBase }
    $dir = Get-Item -LiteralPath $base
    while ($dir -and $dir.Name -ne 'FlyImages') { $dir = $dir.Parent }
    $script:modules = $dir.Parent.FullName
    # the pinned pwsh this suite runs in (pwsh.dll of the dotnet tool), started by dotnet directly
    $script:pwshDll = [Reflection.Assembly]::GetEntryAssembly().Location
    $script:dotnet = (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
    $script:image = if ($env:FLYIMAGES_ACCEPTANCE_IMAGE) { $env:FLYIMAGES_ACCEPTANCE_IMAGE } else { 'node' }
    $script:source = $env:FLYIMAGES_SOURCE
    $sourceUri = [uri]($script:source -replace '^s3://', 'http://')
    $script:bucket = $sourceUri.Host
    $script:prefix = $sourceUri.AbsolutePath.Trim('/')
    $upstream = ([uri]$env:FLYIMAGES_S3_ENDPOINT).Authority

    $id = [guid]::NewGuid().ToString('N').Substring(0, 6)
    $script:tmp = Join-Path ([IO.Path]::GetTempPath()) "flyimages-fleet-$id"
    New-Item -ItemType Directory $script:tmp | Out-Null
    $script:controller = "flyfleet-$id-c"
    # the subnet is the same every run: it exists only inside this run's namespaces, so runs never collide
    $script:net = '10.213.77'
    $script:proxyAddress = "$($script:net).2"
    $script:hosts = foreach ($i in 1..3) {
        [pscustomobject]@{
            Namespace = "flyfleet-$id-h$i"; HostName = "fleet$id-h$i"; Ip = "$($script:net).1$i"
            Folder = Join-Path $script:tmp "h$i"; Store = Join-Path $script:tmp "h$i/store"
        }
    }
    $script:namespaces = @($script:controller) + $script:hosts.Namespace
    $script:processes = [Collections.Generic.List[Diagnostics.Process]]::new()

    # a native command that must succeed: Invoke-Native FILE ARG... (no param block: -options stay arguments)
    function script:Invoke-Native {
        $file, $rest = $args
        $out = & $file @rest 2>&1
        if ($LASTEXITCODE -ne 0) { throw "$file $($rest -join ' ') failed ($LASTEXITCODE): $($out -join "`n")" }
        $out
    }

    # a long-running process, started without a shell; waits for its first stdout line ('ready' for the proxy)
    function script:Start-Background([string] $File, [string[]] $Arguments, [switch] $WaitReady) {
        $info = [Diagnostics.ProcessStartInfo]::new($File)
        foreach ($a in $Arguments) { $info.ArgumentList.Add($a) }
        $info.RedirectStandardOutput = $WaitReady.IsPresent
        $info.RedirectStandardError = $false
        $info.UseShellExecute = $false
        $p = [Diagnostics.Process]::Start($info)
        $script:processes.Add($p)
        if ($WaitReady) {
            $line = $p.StandardOutput.ReadLine()
            if ($line -ne 'ready') { throw "$File $($Arguments -join ' ') did not start: $line" }
        }
        $p
    }

    # the network: a bridge in the controller namespace, one veth per host namespace
    Invoke-Native ip netns add $script:controller | Out-Null
    Invoke-Native ip -n $script:controller link set lo up | Out-Null
    Invoke-Native ip -n $script:controller link add br0 type bridge | Out-Null
    Invoke-Native ip -n $script:controller addr add "$($script:net).1/24" dev br0 | Out-Null
    Invoke-Native ip -n $script:controller addr add "$($script:proxyAddress)/24" dev br0 | Out-Null
    Invoke-Native ip -n $script:controller link set br0 up | Out-Null
    $i = 0
    foreach ($h in $script:hosts) {
        $i++
        Invoke-Native ip netns add $h.Namespace | Out-Null
        Invoke-Native ip -n $script:controller link add "vh$i" type veth peer name eth0 netns $h.Namespace | Out-Null
        Invoke-Native ip -n $script:controller link set "vh$i" master br0 up | Out-Null
        Invoke-Native ip -n $h.Namespace link set lo up | Out-Null
        Invoke-Native ip -n $h.Namespace addr add "$($h.Ip)/24" dev eth0 | Out-Null
        Invoke-Native ip -n $h.Namespace link set eth0 up | Out-Null
    }

    # S3 for the hosts: relay (root namespace, Unix socket -> s3rver) and counting proxy (controller namespace)
    $proxy = Join-Path $PSScriptRoot 'fleet/counting-proxy.js'
    $socket = Join-Path $script:tmp 's3.sock'
    $script:requestLog = Join-Path $script:tmp 'requests.log'
    Set-Content -LiteralPath $script:requestLog -Value $null
    Start-Background node $proxy, relay, $socket, $upstream -WaitReady | Out-Null
    Start-Background ip netns, exec, $script:controller, node, $proxy, count, "$($script:proxyAddress):9000", $socket, $script:requestLog -WaitReady | Out-Null
    $script:endpoint = "http://$($script:proxyAddress):9000"

    # the operator's key, and the hosts' keys pinned in a known_hosts file of the run
    $script:key = Join-Path $script:tmp 'operator_ed25519'
    Invoke-Native ssh-keygen -q -t ed25519 -N '' -C 'flyimages-fleet-test' -f $script:key | Out-Null
    $authorized = Join-Path $script:tmp 'authorized_keys'
    Copy-Item "$($script:key).pub" $authorized
    $script:knownHosts = Join-Path $script:tmp 'known_hosts'
    if (-not (Test-Path /run/sshd)) { New-Item -ItemType Directory /run/sshd | Out-Null }   # sshd's privilege separation folder

    foreach ($h in $script:hosts) {
        New-Item -ItemType Directory $h.Folder | Out-Null
        $hostKey = Join-Path $h.Folder 'ssh_host_ed25519_key'
        Invoke-Native ssh-keygen -q -t ed25519 -N '' -C $h.HostName -f $hostKey | Out-Null
        Add-Content -LiteralPath $script:knownHosts -Value "$($h.Ip) $((Get-Content "$hostKey.pub" -Raw).Trim())"
        # the pool, made before sshd starts so the host's mount namespace has its filesystem
        Initialize-FlyThinPool -Name fleet -Backend BlockFile -DataSize 1GB -StorePath $h.Store -ErrorAction Stop | Out-Null
        $wrapper = Join-Path $h.Folder 'pwsh-subsystem'
        Set-Content -LiteralPath $wrapper -Value @(
            '#!/bin/sh'
            "export FLYIMAGES_HOME='$($h.Store)' PSModulePath='$($script:modules)' DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1"
            "exec '$($script:dotnet)' '$($script:pwshDll)' -sshs -NoLogo -NoProfile"
        )
        chmod 0755 $wrapper
        $config = Join-Path $h.Folder 'sshd_config'
        Set-Content -LiteralPath $config -Value @(
            "ListenAddress $($h.Ip):22"
            "HostKey $hostKey"
            'PidFile none'
            'PermitRootLogin prohibit-password'
            'PubkeyAuthentication yes'
            'PasswordAuthentication no'
            'KbdInteractiveAuthentication no'
            'UsePAM no'
            'StrictModes no'
            "AuthorizedKeysFile $authorized"
            "Subsystem powershell $wrapper"
        )
        Invoke-Native /usr/sbin/sshd -t -f $config | Out-Null
        # its own host name: sshd runs in a UTS namespace of its own, inside the host's network namespace
        $h | Add-Member SshdLog (Join-Path $h.Folder 'sshd.log')
        Start-Background ip netns, exec, $h.Namespace, unshare, '--uts', sh, '-c', 'hostname "$0" && exec /usr/sbin/sshd -D -e -f "$1" 2>>"$2"', $h.HostName, $config, $h.SshdLog | Out-Null
    }
    # every sshd listening before the operator connects (it says so in its log; bounded wait)
    foreach ($h in $script:hosts) {
        for ($i = 0; $i -lt 400 -and -not (Select-String -LiteralPath $h.SshdLog -Pattern 'Server listening on' -Quiet -ErrorAction SilentlyContinue); $i++) { Start-Sleep -Milliseconds 50 }
        if (-not (Select-String -LiteralPath $h.SshdLog -Pattern 'Server listening on' -Quiet -ErrorAction SilentlyContinue)) {
            throw "sshd of $($h.HostName) did not start: $(Get-Content -LiteralPath $h.SshdLog -Raw -ErrorAction SilentlyContinue)"
        }
    }

    # the runbook's tested block, as docs/runbook.md has it, run by the operator's pwsh in the controller namespace
    $doc = Get-Content -LiteralPath (Join-Path $PSScriptRoot '../../docs/runbook.md') -Raw
    if ($doc -notmatch '(?s)<!-- tested: Fleet\.Tests\.ps1 -->\s*```powershell\r?\n(?<block>.*?)```') { throw 'docs/runbook.md has no tested block' }
    $script:block = $Matches.block
    $script:runbook = Join-Path $script:tmp 'runbook.ps1'
    Set-Content -LiteralPath $script:runbook -Value @(
        'param($hosts, $key, $knownHosts, $image, $source, $endpoint, $out)'
        '$ErrorActionPreference = ''Stop''; $hosts = $hosts -split '','''
        $script:block
        '@{ Results = $results; Failures = @($failures | ForEach-Object { [pscustomobject]@{ Host = $_.OriginInfo.PSComputerName; ErrorId = $_.FullyQualifiedErrorId; Message = $_.Exception.Message } }); Table = ($results | Where-Object { $_.PSObject.TypeNames -contains ''Deserialized.FlyImages.Model.Image'' } | Out-String -Width 200); Summary = @($summary) } | Export-Clixml -LiteralPath $out -Depth 4'
    )

    # runs the block once; returns what it left (results, error records, the formatted results, the summary)
    function script:Invoke-Runbook([string] $Name) {
        $out = Join-Path $script:tmp "$Name.xml"
        $log = Join-Path $script:tmp "$Name.log"
        & ip netns exec $script:controller env "PSModulePath=$($script:modules)" DOTNET_NOLOGO=1 $script:dotnet $script:pwshDll -NoProfile -NonInteractive -File $script:runbook `
            -hosts (@($script:hosts | ForEach-Object Ip) -join ',') -key $script:key -knownHosts $script:knownHosts -image $script:image `
            -source $script:source -endpoint $script:endpoint -out $out *> $log
        if ($LASTEXITCODE -ne 0 -or -not (Test-Path $out)) {
            $sshd = foreach ($h in $script:hosts) { "--- $($h.HostName)"; Get-Content $h.SshdLog -Tail 20 -ErrorAction SilentlyContinue }
            throw "The runbook failed ($LASTEXITCODE): $(Get-Content $log -Raw)`n$($sshd -join "`n")"
        }
        Import-Clixml -LiteralPath $out
    }

    # GETs of the image's blobs (its layer objects) per client address
    function script:Get-BlobFetches {
        $pattern = "^(?<client>\S+) GET /$([regex]::Escape($script:bucket))/$([regex]::Escape($script:prefix))/(?<key>[^?\s]+\.tar)$"
        foreach ($line in Get-Content -LiteralPath $script:requestLog) {
            if ($line -match $pattern) { [pscustomobject]@{ Client = $Matches.client; Key = $Matches.key } }
        }
    }
}

AfterAll {
    if ($script:why) { return }
    # processes in the namespaces (sshd and its sessions, the proxy), then ours, then the namespaces and pools
    foreach ($ns in $script:namespaces) {
        foreach ($procId in @(ip netns pids $ns 2>$null)) { kill -KILL $procId 2>$null }
    }
    # gone before the pools go: their mount namespaces hold copies of the pools' mounts (bounded wait, no timing asserted)
    for ($i = 0; $i -lt 100 -and @($script:namespaces | ForEach-Object { ip netns pids $_ 2>$null }).Count -gt 0; $i++) { Start-Sleep -Milliseconds 100 }
    foreach ($p in $script:processes) { if (-not $p.HasExited) { $p.Kill($true) }; $p.WaitForExit(10000) | Out-Null }
    foreach ($ns in $script:namespaces) { ip netns del $ns 2>$null }
    foreach ($h in $script:hosts) {
        if (Test-Path $h.Store) {
            Get-FlyThinPool -StorePath $h.Store -ErrorAction SilentlyContinue | Remove-FlyThinPool -StorePath $h.Store -Force -ErrorAction Continue
        }
    }
    if ($script:tmp -and (Test-Path $script:tmp)) { Remove-Item -LiteralPath $script:tmp -Recurse -Force }
    $left = @(ip netns list | ForEach-Object { ($_ -split ' ')[0] } | Where-Object { $_ -in $script:namespaces })
    $loops = @(losetup -nO BACK-FILE 2>$null | Where-Object { $_ -like "$($script:tmp)*" })
    if ($left -or $loops) { throw "The fleet test left behind: $($left + $loops -join '; ')" }
}

Describe 'The runbook across three hosts' -Tag Fleet {
    BeforeAll {
        if ($script:why) { return }
        # host 2 cannot reach the source (a prohibit route to the proxy's address): its install fails
        $script:broken = $script:hosts[1]
        Invoke-Native ip -n $script:broken.Namespace route add prohibit "$($script:proxyAddress)/32" | Out-Null
        $script:first = Invoke-Runbook first
        $script:fetchesAfterFirst = @(Get-BlobFetches)
        Invoke-Native ip -n $script:broken.Namespace route del prohibit "$($script:proxyAddress)/32" | Out-Null
        $script:second = Invoke-Runbook second
        $script:fetchesAfterSecond = @(Get-BlobFetches)
    }

    BeforeEach {
        if ($script:why) { Set-ItResult -Skipped -Because $script:why }
    }

    It 'names the failed host in its error records and leaves the others Ready' {
        # the error records as the operator's pwsh had them: OriginInfo.PSComputerName, FullyQualifiedErrorId, message
        $all = ($script:first.Failures | ForEach-Object { "$($_.Host): $($_.ErrorId) $($_.Message)" }) -join '; '
        $failed = @($script:first.Failures | Where-Object Host -eq $script:broken.Ip)
        $failed | Should -Not -BeNullOrEmpty -Because "error records: $all"
        @($script:first.Failures | Where-Object Host -ne $script:broken.Ip) | Should -BeNullOrEmpty -Because "error records: $all"
        $failed[0].ErrorId | Should -Match '^(InstallFailed|SourceUnreachable),' -Because $all
        foreach ($h in $script:hosts) {
            $line = $script:first.Summary | Where-Object Host -eq $h.Ip
            $line.Ready | Should -Be ($h -ne $script:broken) -Because $h.HostName
            $line.ComputerName | Should -Be $h.HostName
        }
    }

    It 'recovers the failed host on a re-run: every host Ready and healthy' {
        foreach ($h in $script:hosts) {
            $line = $script:second.Summary | Where-Object Host -eq $h.Ip
            $line.Ready | Should -BeTrue -Because $h.HostName
            $line.Healthy | Should -BeTrue -Because "$($h.HostName): $(($script:second.Results | Where-Object { $_.PSComputerName -eq $h.Ip -and $_.PSObject.Properties['Passed'] -and -not $_.Passed } | ForEach-Object { "$($_.Check): $($_.Message)" }) -join '; ')"
        }
        $script:second.Failures | Should -BeNullOrEmpty
    }

    It 'fetches each blob once per host, and nothing again on a re-run for the hosts that had it' {
        $layers = @($script:fetchesAfterSecond.Key | Sort-Object -Unique)
        $layers.Count | Should -BeGreaterThan 0
        foreach ($h in $script:hosts) {
            $mine = @($script:fetchesAfterSecond | Where-Object Client -eq $h.Ip)
            @($mine.Key | Sort-Object -Unique) | Should -Be $layers -Because "$($h.HostName) fetched every layer"
            $mine.Count | Should -Be $layers.Count -Because "$($h.HostName) fetched each layer once"
        }
        @($script:fetchesAfterFirst | Where-Object Client -eq $script:broken.Ip) | Should -BeNullOrEmpty
        foreach ($h in $script:hosts | Where-Object { $_ -ne $script:broken }) {
            @($script:fetchesAfterFirst | Where-Object Client -eq $h.Ip).Count | Should -Be $layers.Count
        }
    }

    It 'brings back objects that carry ComputerName (the host''s own name) and PSComputerName after deserializing' {
        foreach ($r in $script:second.Results) {
            $h = $script:hosts | Where-Object Ip -eq $r.PSComputerName
            $h | Should -Not -BeNullOrEmpty
            $r.ComputerName | Should -Be $h.HostName
            ($r.PSObject.TypeNames -match '^Deserialized\.').Count | Should -BeGreaterThan 0
        }
        @($script:second.Results | Where-Object { $_.PSObject.TypeNames -match 'FlyImages\.Model\.Image$' }).Count | Should -Be 3
    }

    It 'formats the hosts'' images with the module''s view' {
        # the view's columns (Name, Layers, Size, State, Source), as the operator's pwsh printed them
        $script:second.Table | Should -Match '(?m)^Name\s+Layers\s+Size\s+State\s+Source'
        $script:second.Table | Should -Match "(?m)^$([regex]::Escape($script:image))\s+\d+\s+.*Ready"
    }
}
