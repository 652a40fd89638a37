#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages FlyImages.
.DESCRIPTION
    Build   - compiles the solution (warnings are errors).
    Test    - runs tests/run.sh: every xunit suite, the Pester suites in pwsh against the installed nupkg,
              then the devicemapper tests (xunit and Pester) in a qemu VM.
    Package - publishes the module to out/FlyImages (dotnet publish -r linux-x64) and checks its layout:
              the manifest, every FormatsToProcess file and the cmdlet assembly at the top; the core and
              every dependency in deps/ (loaded in the module's own AssemblyLoadContext), with
              libe_sqlite3.so flat beside SQLitePCLRaw.provider.e_sqlite3.dll (runtimes/ is not searched); the help
              (en-US/FlyImages.Cmdlets.dll-Help.xml, generated at build, and about_FlyImages) beside the cmdlets.
              Then publishes it with Publish-PSResource to the local file repository out/repo (registered,
              trusted, as 'FlyImagesLocal'), giving out/repo/FlyImages.<version>.nupkg, which users install
              with Install-PSResource (see README) and CI installs with Save-PSResource before the Pester suites.
.EXAMPLE
    ./build.ps1 Package; Import-Module ./out/FlyImages/FlyImages.psd1; Get-FlyImage
.EXAMPLE
    ./build.ps1 Package; Install-PSResource FlyImages -Repository FlyImagesLocal; Get-FlyImage
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Package')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# Publish-PSResource to a file repository, as the gallery would get it; FlyImages.<version>.nupkg results
function Publish-LocalRepository([string] $Module, [string] $Version) {
    $repo = Join-Path $root 'out/repo'
    New-Item -ItemType Directory -Force $repo | Out-Null
    Remove-Item (Join-Path $repo "FlyImages.$Version.nupkg") -ErrorAction SilentlyContinue
    $registered = Get-PSResourceRepository -Name FlyImagesLocal -ErrorAction SilentlyContinue
    if (-not $registered -or ([uri] $registered.Uri).LocalPath.TrimEnd('/') -ne $repo.TrimEnd('/')) {
        if ($registered) { Unregister-PSResourceRepository -Name FlyImagesLocal }
        Register-PSResourceRepository -Name FlyImagesLocal -Uri $repo -Trusted
    }
    Publish-PSResource -Path $Module -Repository FlyImagesLocal
    $nupkg = Join-Path $repo "FlyImages.$Version.nupkg"
    if (-not (Test-Path $nupkg)) { throw "Publish-PSResource did not write $nupkg" }
    Write-Verbose "Module published to $nupkg (repository FlyImagesLocal)" -Verbose
}

foreach ($t in $Task) {
    switch ($t) {
        'Build' {
            Invoke-Native dotnet @('build', (Join-Path $root 'FlyImages.slnx'), '-c', $Configuration, '-nologo')
        }
        'Test' {
            Invoke-Native bash @((Join-Path $root 'tests/run.sh'))
        }
        'Package' {
            $out = Join-Path $root 'out/FlyImages'
            if (Test-Path $out) { Remove-Item $out -Recurse -Force }
            Invoke-Native dotnet @('publish', (Join-Path $root 'FlyImages.Cmdlets/FlyImages.Cmdlets.csproj'), '-c', $Configuration,
                '-r', 'linux-x64', '--self-contained', 'false', '-o', $out, '-nologo')
            $manifest = Import-PowerShellDataFile (Join-Path $out 'FlyImages.psd1')
            $required = @($manifest.RootModule, 'FlyImages.psd1', 'deps/FlyImages.dll', 'deps/libe_sqlite3.so', 'deps/SQLitePCLRaw.provider.e_sqlite3.dll',
                "en-US/$($manifest.RootModule)-Help.xml", 'en-US/about_FlyImages.help.txt') + $manifest.FormatsToProcess
            $missing = $required | Where-Object { -not (Test-Path (Join-Path $out $_)) }
            if ($missing) { throw "The packaged module lacks: $($missing -join ', ')" }
            Get-ChildItem $out -Filter *.pdb | Remove-Item
            Write-Verbose "Module packaged at $out" -Verbose
            Publish-LocalRepository -Module $out -Version $manifest.ModuleVersion
        }
    }
}
