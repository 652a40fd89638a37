#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the Pester suites of tests/acceptance (every *.Tests.ps1) and writes their results as NUnit XML.
.DESCRIPTION
    What tests/run.sh (and, inside the devicemapper VM, tests/vm/guest-dm-tests.sh) call. Imports Pester from
    -PesterModule (the pinned package: `dotnet msbuild tests/tools/TestTools.csproj -getProperty:PesterModule`)
    or, without it, the newest Pester installed. The suites read their settings from the environment (see
    FlyImages.Acceptance.Tests.ps1). Exit code: Pester's (failed tests, blocks and containers), and 1 when no
    test ran (passed or failed) at all.
.EXAMPLE
    dotnet pwsh -NoProfile -File tests/acceptance/Invoke-Acceptance.ps1 -ResultPath out/acceptance.xml -Tag Listing, Install
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ResultPath,
    [string[]] $Tag,
    [string[]] $ExcludeTag,
    [string] $PesterModule
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
if ($PesterModule) { Import-Module $PesterModule -Force } else { Import-Module Pester -MinimumVersion 5.3.0 }
$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = $ResultPath
# pwsh -File passes "A,B" as one string
if ($Tag) { $config.Filter.Tag = @($Tag -split ',' | ForEach-Object Trim | Where-Object { $_ }) }
if ($ExcludeTag) { $config.Filter.ExcludeTag = @($ExcludeTag -split ',' | ForEach-Object Trim | Where-Object { $_ }) }
$result = Invoke-Pester -Configuration $config
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
if ($result.PassedCount + $result.FailedCount -eq 0) {
    Write-Error "No test ran (tags: $($Tag -join ', '))" -ErrorAction Continue
    exit 1
}
exit ([Math]::Min($failed, 100))
