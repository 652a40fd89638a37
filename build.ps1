#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages FlyImages.
.DESCRIPTION
    Build   - compiles the solution (warnings are errors).
    Test    - runs tests/run.sh: every xunit suite, then the devicemapper tests in a qemu VM.
    Package - publishes the module to out/FlyImages (dotnet publish -r linux-x64) and checks its layout:
              the manifest, every FormatsToProcess file and the cmdlet assembly at the top; the core and
              every dependency in deps/ (loaded in the module's own AssemblyLoadContext), with
              libe_sqlite3.so flat beside SQLitePCLRaw.provider.e_sqlite3.dll (runtimes/ is not searched); the help
              (en-US/FlyImages.Cmdlets.dll-Help.xml, generated at build, and about_FlyImages) beside the cmdlets.
.EXAMPLE
    ./build.ps1 Package; Import-Module ./out/FlyImages/FlyImages.psd1; Get-FlyImage
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
        }
    }
}
