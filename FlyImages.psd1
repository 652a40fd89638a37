@{
    RootModule           = 'FlyImages.Cmdlets.dll'
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
        'FlyImages.Health.Format.ps1xml'
    )
    PrivateData          = @{
        PSData = @{
            Tags         = @('containers', 'devicemapper', 'thin-pool', 'images', 's3', 'Linux')
        }
    }
}
