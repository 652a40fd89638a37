@{
    RootModule           = 'FlyImages.Cmdlets.dll'
    # the version's one place: every assembly takes it from here (Directory.Build.props)
    ModuleVersion        = '0.1.0'
    GUID                 = '088ce314-c042-4482-88e5-c9d5a67d692c'
    Author               = 'FlyImages developers'
    CompanyName          = 'FlyImages'
    Copyright            = '(c) FlyImages developers.'
    Description          = 'Puts container images onto Linux hosts the way Fly.io''s flyd does: fetches layer blobs from S3 only when missing, unpacks them safely into devicemapper thin-pool devices only once, and activates images as thin snapshots. SQLite records everything; persisted state machines make every step resumable.'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'
    CmdletsToExport      = @(
        'Get-FlyImage'
        'Install-FlyImage'
        'New-FlyThinSnapshot'
        'Get-FlyThinSnapshot'
        'Remove-FlyThinSnapshot'
        'Get-FlyImageEvent'
        'Expand-FlyLayer'
        'Initialize-FlyThinPool'
        'Get-FlyThinPool'
        'Remove-FlyThinPool'
        'Save-FlyImage'
        'Remove-FlyImage'
        'Limit-FlyImageStore'
        'Get-FlyHost'
        'Test-FlyImageStore'
        'Export-FlyMetrics'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    FormatsToProcess     = @(
        'FlyImages.Image.Format.ps1xml'
        'FlyImages.Snapshots.Format.ps1xml'
        'FlyImages.Workflows.Format.ps1xml'
        'FlyImages.Unpacking.Format.ps1xml'
        'FlyImages.ThinPools.Format.ps1xml'
        'FlyImages.Lifecycle.Format.ps1xml'
        'FlyImages.Health.Format.ps1xml'
    )
    PrivateData          = @{
        PSData = @{
            Tags         = @('containers', 'devicemapper', 'thin-pool', 'images', 's3', 'Linux', 'PSEdition_Core')
            LicenseUri   = 'https://github.com/flyimages/flyimages/blob/main/LICENSE'
            ProjectUri   = 'https://github.com/flyimages/flyimages'
            ReleaseNotes = @'
0.1.0: first release. Get-FlyImage lists images in S3 (or a folder); Install-FlyImage fetches each layer blob
once and unpacks each layer chain once into thin-pool devices (devicemapper, or block files on loop devices);
New-FlyThinSnapshot activates installed images as thin snapshots; Get-/Remove-FlyThinSnapshot,
Initialize-/Get-/Remove-FlyThinPool, Save-FlyImage, Expand-FlyLayer and Get-FlyImageEvent. Every step is a
persisted, resumable workflow in a SQLite store. Tested on PowerShell 7.6.10 on Linux x64.
'@
        }
    }
}
