#Requires -Version 7.4
<#
.SYNOPSIS
    Writes a small image source for the acceptance suite: a folder, and optionally the same keys in an S3 bucket.
.DESCRIPTION
    Images node and golang, each three plain ustar layers (etc/, usr/ and a per-image folder; layers 1-2 shared),
    in the public bucket's layout (<image>/<n>.tar). CI (tests/run.sh) points the acceptance suite at this folder
    and at an s3rver seeded with the same keys; operators point it at their real source instead.
.EXAMPLE
    ./New-AcceptanceSource.ps1 -Path /tmp/src -Endpoint http://127.0.0.1:4568 -Bucket acceptance -Prefix images
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Path,
    [string] $Endpoint,
    [string] $Bucket = 'acceptance',
    [string] $Prefix = 'images'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function New-Layer([string] $File, [hashtable] $Entries) {
    $stream = [IO.File]::Create($File)
    try {
        $writer = [Formats.Tar.TarWriter]::new($stream, [Formats.Tar.TarEntryFormat]::Ustar, $false)
        $dirs = [Collections.Generic.HashSet[string]]::new()
        foreach ($name in $Entries.Keys | Sort-Object) {
            $parts = $name.Split('/')
            for ($i = 1; $i -lt $parts.Count; $i++) {
                $dir = ($parts[0..($i - 1)] -join '/') + '/'
                if ($dirs.Add($dir)) {
                    $d = [Formats.Tar.UstarTarEntry]::new([Formats.Tar.TarEntryType]::Directory, $dir)
                    $d.Mode = [IO.UnixFileMode]'UserRead, UserWrite, UserExecute, GroupRead, GroupExecute, OtherRead, OtherExecute'
                    $writer.WriteEntry($d)
                }
            }
            $e = [Formats.Tar.UstarTarEntry]::new([Formats.Tar.TarEntryType]::RegularFile, $name)
            $e.Mode = [IO.UnixFileMode]'UserRead, UserWrite, GroupRead, OtherRead'
            $e.DataStream = [IO.MemoryStream]::new([Text.Encoding]::UTF8.GetBytes($Entries[$name]))
            $writer.WriteEntry($e)
        }
        $writer.Dispose()
    }
    finally { $stream.Dispose() }
}

$layers = @{
    1 = @{ 'etc/os-release' = "NAME=acceptance`n"; 'usr/share/base/1.txt' = 'b' * 1000 }
    2 = @{ 'etc/layer-2' = "shared layer 2`n"; 'usr/bin/tool' = "#!/bin/sh`n" }
}
foreach ($image in 'node', 'golang') {
    $folder = Join-Path $Path $image
    New-Item -ItemType Directory -Force $folder | Out-Null
    New-Layer (Join-Path $folder '1.tar') $layers[1]
    New-Layer (Join-Path $folder '2.tar') $layers[2]
    New-Layer (Join-Path $folder '3.tar') @{ "opt/$image/version" = "$image 1`n"; "usr/local/$image/README" = 'x' * 500 }
}

if ($Endpoint) {
    Invoke-WebRequest -Method Put -Uri "$Endpoint/$Bucket" -SkipHttpErrorCheck | Out-Null   # exists already: fine
    foreach ($file in Get-ChildItem $Path -Recurse -File) {
        $key = [IO.Path]::GetRelativePath($Path, $file.FullName).Replace('\', '/')
        Invoke-WebRequest -Method Put -Uri "$Endpoint/$Bucket/$Prefix/$key" -InFile $file.FullName | Out-Null
    }
}
